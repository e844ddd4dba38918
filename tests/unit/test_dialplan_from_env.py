"""The container entrypoint renders the same configuration from environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialplan.__main__ import main, params_from_env


def test_renders_every_file_from_the_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_ARI_URL", "http://127.0.0.1:18088")
    monkeypatch.setenv("SWITCHBOARD_ARI_PASSWORD", "pw")
    monkeypatch.setenv("SWITCHBOARD_AMI_SECRET", "sec")
    base = tmp_path / "docker"
    assert main(["--base", str(base)]) == 0
    http = (base / "etc" / "http.conf").read_text()
    assert "bindport = 18088" in http
    assert (base / "log" / "cdr-custom").is_dir()
    assert f"astetcdir => {base}/etc" in (base / "etc" / "asterisk.conf").read_text()


def test_missing_secret_is_a_clear_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        params_from_env("/srv/x", {"SWITCHBOARD_AMI_SECRET": "s"})
    assert "SWITCHBOARD_ARI_PASSWORD is not set" in str(exit_info.value)
