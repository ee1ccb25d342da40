"""What ``plat`` does with files and flags it must refuse: devices, FIFOs, directories, files
too large, text that is not UTF-8, manifests nested thousands deep, build contexts outside the
manifest's directory, names that are empty and numbers that are not finite.

Each is a clear error with exit 2 and nothing sent that changes the env. Most cases run the
command line in this process through the runner every front end shares (``tui.cli.runner``,
with a ``TranscriptCtx``): a traceback there fails the test as an exception. A few run the real
``plat`` program, for what only a process shows: it does not hang on /dev/urandom or a FIFO,
and prints no traceback.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_support import MANIFEST, PLAT, satisfy_gate

from tui.cli import build_context
from tui.cli.context import ERR, OUT
from tui.cli.runner import run
from tui.cli.settings import FixedSettings
from tui.cli.transcript import TranscriptCtx


@pytest.fixture(scope="module")
def env(platd: Any) -> str:
    from daemon_support import make_env

    path = make_env(platd)
    satisfy_gate(platd, path)
    return path


def _state(platd: Any, target: str) -> list[Any]:
    out = []
    for rest in ("/config", "/secrets", "/releases"):
        status, body = platd.api("GET", f"/v1/envs/{target}{rest}")
        assert status == 200, body
        out.append(body)
    return out


def _refused(platd: Any, target: str, *words: str, code: int = 2) -> str:
    """Run ``plat WORDS --target TARGET`` here; it must fail with ``code`` and change nothing.
    Returns what it said on stderr."""
    before = _state(platd, target)
    ctx = TranscriptCtx(FixedSettings(platd.url, platd.token, target))
    got = run([*words, "--target", target], ctx)
    said = ctx.text(ERR)
    assert got == code, (got, ctx.text(OUT), said)
    assert ctx.text(OUT) == ""
    assert "Traceback" not in said
    assert _state(platd, target) == before
    return said


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    made = {
        "fifo": root / "fifo",
        "dir": root / "adir",
        "non-utf8": root / "latin1.txt",
        "nul": root / "nul.txt",
        "large": root / "large.txt",
        "missing": root / "missing.txt",
        "zero": Path("/dev/zero"),
        "urandom": Path("/dev/urandom"),
        "null": Path("/dev/null"),
    }
    os.mkfifo(made["fifo"])
    made["dir"].mkdir()
    made["non-utf8"].write_bytes(b'app = "caf\xe9"\nA=caf\xe9\n')
    made["nul"].write_bytes(b"A=1\nB=\x00\x01\x02\x03\n")
    made["large"].write_text("# filler\n" * 40_000)  # 360 KiB of valid comments
    return made


KIND_WORDS = {
    "fifo": "named pipe", "dir": "directory", "non-utf8": "not UTF-8", "nul": "NUL",
    "large": "KiB limit", "missing": "no ", "zero": "character device",
    "urandom": "character device", "null": "character device",
}
COMMANDS = {
    "manifest check": ["manifest", "check", "-f", "{}"],
    "deploy": ["deploy", "-f", "{}", "--detach"],
    "config import": ["config", "import", "{}"],
    "secrets create": ["secrets", "create", "newbundle", "--from-file", "{}"],
    "secrets update": ["secrets", "update", "db", "--from-file", "{}"],
}


@pytest.mark.parametrize("kind", KIND_WORDS)
@pytest.mark.parametrize("command", COMMANDS)
def test_files_that_are_not_small_text_are_refused(platd: Any, env: str, files: dict[str, Path],
                                                   command: str, kind: str) -> None:
    words = [w.replace("{}", str(files[kind])) for w in COMMANDS[command]]
    said = _refused(platd, env, *words)
    assert said.startswith("error: "), said
    assert KIND_WORDS[kind] in said, said
    if command.startswith("secrets"):
        assert "caf" not in said  # a refused secrets file is never echoed


def test_a_manifest_nested_thousands_deep_names_its_line(platd: Any, env: str,
                                                         tmp_path: Path) -> None:
    manifest = tmp_path / "plat.toml"
    manifest.write_text('app = "hello"\n\nx = ' + "[" * 20_000 + "\n")
    said = _refused(platd, env, "deploy", "-f", str(manifest))
    assert "nests arrays or tables more than 64 deep at line 3" in said


def _build_manifest(folder: Path, build: str) -> Path:
    manifest = folder / "plat.toml"
    manifest.write_text(MANIFEST.read_text().replace(
        'image = "127.0.0.1:5000/hello:v1"', f"build = {build}"))
    return manifest


@pytest.mark.parametrize(("build", "words"), [
    ('{ context = "/etc" }', "relative to the manifest's directory"),
    ('{ context = "../.." }', "stay inside the manifest's directory"),
    ('{ context = ".", dockerfile = "/etc/passwd" }', "relative to the build context"),
    ('{ context = ".", dockerfile = "../Dockerfile" }', "stay inside the build context"),
])
def test_a_build_outside_the_manifest_directory_is_refused_by_the_rules(
        platd: Any, env: str, tmp_path: Path, build: str, words: str) -> None:
    said = _refused(platd, env, "deploy", "-f", str(_build_manifest(tmp_path, build)))
    assert words in said, said


def test_a_context_that_escapes_through_a_symlink_is_refused(platd: Any, env: str,
                                                             tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "ctx").symlink_to("/etc")
    said = _refused(platd, env, "deploy", "-f",
                    str(_build_manifest(app, '{ context = "ctx" }')))
    assert "outside the manifest's directory" in said, said
    (app / "inside").mkdir()
    (app / "inside" / "Dockerfile").symlink_to("/etc/passwd")
    said = _refused(platd, env, "deploy", "-f",
                    str(_build_manifest(app, '{ context = "inside" }')))
    assert "outside the build context" in said, said


def test_a_context_without_its_dockerfile_is_refused_before_upload(platd: Any, env: str,
                                                                    tmp_path: Path) -> None:
    said = _refused(platd, env, "deploy", "-f",
                    str(_build_manifest(tmp_path, '{ context = "." }')))
    assert "there is no file 'Dockerfile'" in said, said


def test_a_context_over_the_size_limit_is_refused_before_upload(
        platd: Any, env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_context, "MAX_BUILD_CONTEXT", 4096)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "blob").write_bytes(b"x" * 8192)
    said = _refused(platd, env, "deploy", "-f",
                    str(_build_manifest(tmp_path, '{ context = "." }')))
    assert "is larger than" in said, said


def test_special_files_in_a_context_are_left_out_not_read(tmp_path: Path) -> None:
    import io
    import tarfile

    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    os.mkfifo(tmp_path / "pipe")  # reading it would block forever
    (tmp_path / "link").symlink_to("/etc/passwd")
    with tarfile.open(fileobj=io.BytesIO(build_context.tar_context(tmp_path))) as tar:
        names = tar.getnames()
    assert sorted(names) == [".", "./Dockerfile", "./link"]


@pytest.mark.parametrize(("words", "said"), [
    (["describe", "instance", ""], "the instance id must not be empty"),
    (["describe", "workload", " "], "the workload name must not be empty"),
    (["describe", "release", ""], "the release id must not be empty"),
    (["secrets", "describe", ""], "the secret bundle name must not be empty"),
    (["secrets", "delete", ""], "the secret bundle name must not be empty"),
    (["logs", "--since", "99999999d"], "longer than 36500d"),
    (["logs", "--since", "0001-01-01T00:00:00Z"], "outside 1970 to 2262"),
    (["logs", "--until", "9999-12-31T00:00:00Z"], "outside 1970 to 2262"),
    (["events", "--since", "99999999d"], "longer than 36500d"),
    (["scale", "web", "--cpu", "nan"], "not a finite number"),
    (["scale", "web", "--cpu", "inf"], "not a finite number"),
    (["scale", "web", "--cpu=-inf"], "not a finite number"),
    (["scale", "web", "--cpu", "1e999"], "not a finite number"),
    (["wait", "--timeout", "nan"], "not a finite number"),
    (["deploy", "--timeout", "inf"], "not a finite number"),
    (["config", "set", "1BAD=x"], "is not KEY=value"),
    (["deploy", "-f", str(MANIFEST), "--image", "web=a b"], "image reference"),
    # bytes a terminal passed undecoded (not UTF-8) arrive as surrogates
    (["describe", "instance", "\udcff"], "the instance id given is not UTF-8 text"),
    (["secrets", "describe", "\udcff"], "the secret bundle name given is not UTF-8 text"),
    (["logs", "--workload", "\udcff"], "not UTF-8 text"),
])
def test_hostile_flags_are_clear_errors(platd: Any, env: str, words: list[str],
                                        said: str) -> None:
    assert said in _refused(platd, env, *words)


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "FIFO"])
def test_the_plat_program_does_not_hang_or_trace_on_special_files(tmp_path: Path,
                                                                  path: str) -> None:
    if path == "FIFO":
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
    done = subprocess.run([PLAT, "manifest", "check", "-f", path], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2, done
    assert done.stderr.startswith("error: "), done.stderr
    assert "not a regular file" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_plat_program_refuses_an_empty_instance_id(cli: Any, env: str) -> None:
    done = cli("describe", "instance", "", "--target", env)
    assert done.code == 2, done
    assert done.err.startswith("error: the instance id must not be empty"), done.err
    assert "Traceback" not in done.err


def test_an_undecodable_tree_path_is_refused(platd: Any) -> None:
    ctx = TranscriptCtx(FixedSettings(platd.url, platd.token, None))
    assert run(["orgs", "delete", "\udcff"], ctx) == 2
    assert ctx.text(ERR).startswith("error: the path given is not UTF-8 text"), ctx.text(ERR)


def test_a_bug_in_a_command_is_one_line_not_a_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main as cli_main
    from tui.cli.commands import observe

    def broken(_ctx: Any) -> int:
        raise KeyError("s3cr3t")

    monkeypatch.setattr(observe, "status", broken)
    monkeypatch.setenv("PLAT_API", "http://127.0.0.1:1")
    monkeypatch.delenv("PLAT_DEBUG", raising=False)
    assert cli_main.main(["status", "--target", "a/b/c/d"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: plat failed unexpectedly (KeyError)\n"), err
    assert "PLAT_DEBUG=1" in err
    assert "Traceback" not in err
    assert "s3cr3t" not in err  # the text of an error may hold what the user typed
    monkeypatch.setenv("PLAT_DEBUG", "1")
    with pytest.raises(KeyError):
        cli_main.main(["status", "--target", "a/b/c/d"])
