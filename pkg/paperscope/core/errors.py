"""Errors that reach users: each carries a message written for a person, not a traceback."""


class PaperscopeError(Exception):
    """Base class: the message is shown to the user as it is."""


class ParamError(PaperscopeError, ValueError):
    """A parameter name or value that the lab does not accept (names the allowed range)."""


class DataError(ParamError):
    """A user's data set that a lab cannot learn from: one message per problem, naming the limit."""


class UnknownLabError(PaperscopeError, KeyError):
    """A lab slug that is not in the registry."""

    def __str__(self):  # KeyError would quote the message
        return self.args[0] if self.args else ""


class DivergenceError(PaperscopeError, FloatingPointError):
    """A computation produced NaN or inf; the message names the step and the likely cause."""
