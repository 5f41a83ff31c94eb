"""Tools an agent can call: a calculator, a read-only SQL guard and runner, a weather client."""
