"""Exceptions that carry one-sentence, user-facing messages for the CLI to print."""


class DatagenError(Exception):
    """A mistake the user can fix; the CLI prints the message and exits non-zero."""

    exit_code = 1


class SettingError(DatagenError):
    """A bad environment variable or command-line option."""

    exit_code = 2


class ScenarioError(DatagenError):
    """A scenario file that cannot be generated as written."""

    exit_code = 2


class OutputError(DatagenError):
    """The output folder or an included file gets in the way of writing the dataset."""

    exit_code = 1
