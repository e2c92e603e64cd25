"""Errors the CLI turns into one clear line: what went wrong and how to fix it."""


class LabError(Exception):
    """A problem the user can fix; `hint` says how."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message}\n  fix: {self.hint}" if self.hint else message
