"""The API errors of the documents API: what a refused upload or import answers."""

from __future__ import annotations

from genai_shared.web.errors import AppError, NotFound, ServiceUnavailable, UnprocessableEntity


class DocumentNotFound(NotFound):
    message = "Document not found"


class DocumentTooLarge(AppError):
    status_code = 413
    message = "The document is larger than the upload limit"


class UnsupportedDocumentType(AppError):
    status_code = 415
    message = "This type of document cannot be ingested"


class UnsupportedRequestBody(AppError):
    status_code = 415
    message = "Send the document as multipart/form-data (a 'file' field) or JSON {\"url\": ...}"


class EmptyDocument(UnprocessableEntity):
    message = "The document is empty"


class URLNotAllowed(UnprocessableEntity):
    message = "The URL cannot be fetched: it is not allowed"


class URLFetchFailed(UnprocessableEntity):
    message = "The URL could not be fetched"


class IngestionUnavailable(ServiceUnavailable):
    message = "Document ingestion is not running"
