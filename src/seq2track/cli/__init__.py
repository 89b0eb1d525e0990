"""The ``seq2track`` command line: a thin Typer app.

Each command group lives in its own module of this package and registers itself on the
shared ``app``; a command parses arguments, loads the study and calls one stage function.
Heavy libraries (torch, lightning, ray) are imported inside the stage functions so that
``seq2track --help`` starts fast. A ``Seq2TrackError`` is printed as one line, exit code 2.
"""

from __future__ import annotations

import importlib
import sys

import typer

from ..errors import Seq2TrackError

app = typer.Typer(
    name="seq2track",
    help="Predict epigenomic signal (bigWig) from DNA sequence, with the field's pitfalls measured.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: command modules, each with ``register(app)``, in the order ``--help`` lists them
_COMMAND_MODULES = ["data", "simulate", "run", "pitfalls", "tune", "interpret", "reproduce", "realdata"]

for _name in _COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}").register(app)


def main() -> None:
    """Entry point: run the app; user-fixable errors become one line on stderr, exit 2."""
    try:
        rc = app(standalone_mode=False)  # typer.Exit(n) comes back as a return value here
        sys.exit(rc if isinstance(rc, int) else 0)
    except Seq2TrackError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None)
        if code is None:
            code = getattr(exc, "code", 0)
        sys.exit(code or 0)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors etc.
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    finally:  # a rank of torchrun / srun / Lightning's launcher shuts its group before the interpreter ends
        from ..ranks import close_group

        close_group()


if __name__ == "__main__":
    main()
