"""Settings errors and warnings never show a secret: not a password in a URL, not a token, not the
value of a mistyped variable; and a webhook secret list of separators only is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import QUOTABLE, Settings, SettingsError, load_settings, unknown_variables
from tests.test_cli import run

PASSWORD = "hunter2-PASS"
URL_SETTINGS = ("FORGEBOT_GITHUB_API_URL", "FORGEBOT_GITEA_URL", "FORGEBOT_PUBLIC_URL")


def refusal(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    return caught.value.problems


@pytest.mark.parametrize("variable", URL_SETTINGS)
@pytest.mark.parametrize("url", [f"https://bob:{PASSWORD}@host/api/v3", f"bob:{PASSWORD}@host/api/v3"])
def test_a_url_setting_is_refused_without_quoting_it(monkeypatch: pytest.MonkeyPatch, variable: str, url: str) -> None:
    env = {variable: url, "FORGEBOT_GITEA_TOKEN": "t"} if variable == "FORGEBOT_GITEA_URL" else {variable: url}
    [problem] = refusal(monkeypatch, **env)
    assert problem.startswith(f"{variable}: ") and PASSWORD not in problem


def test_the_cli_refuses_a_password_in_a_url_in_one_line_without_it() -> None:
    result = run("deliveries", env={"FORGEBOT_GITHUB_API_URL": f"https://bob:{PASSWORD}@host/api/v3"})
    assert result.returncode == 2 and PASSWORD not in result.stderr + result.stdout
    assert result.stderr.splitlines() == [
        "forgebot: invalid setting: FORGEBOT_GITHUB_API_URL: must not carry credentials; use the token setting instead"]


def test_a_password_in_a_url_in_the_settings_file_is_not_quoted_either(tmp_path: Path) -> None:
    config = tmp_path / "forgebot.toml"
    config.write_text(f'gitea_url = "https://bob:{PASSWORD}@gitea.example"\ngitea_token = "t"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(config_file=config)
    assert caught.value.problems and PASSWORD not in str(caught.value)


@pytest.mark.parametrize("name", sorted(set(Settings.model_fields) - QUOTABLE))
def test_no_error_quotes_a_setting_that_may_hold_a_secret(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    # Values each setting refuses, all carrying the password: whatever the error, it is not shown.
    for value in (f"{PASSWORD}", f"x:{PASSWORD}", f" , {PASSWORD}:", f"{{'a': '{PASSWORD}'}}", f"[\"{PASSWORD}\"]"):
        monkeypatch.setenv(f"FORGEBOT_{name.upper()}", value)
        try:
            load_settings()
        except SettingsError as exc:
            assert PASSWORD not in str(exc), (name, value)


def test_quoted_settings_still_show_what_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    [problem] = refusal(monkeypatch, FORGEBOT_WORKERS="lots")
    assert problem.endswith("(got 'lots')")


def test_webhook_secrets_of_separators_only_are_refused_in_one_line() -> None:
    result = run("serve", env={"FORGEBOT_WEBHOOK_SECRETS": " , ,, "})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "forgebot: invalid setting: FORGEBOT_WEBHOOK_SECRETS: holds only commas and spaces; give at least one value, "
        "or unset it for the default"]


def test_a_mistyped_variable_is_named_with_the_closest_setting_and_without_its_value() -> None:
    environ = {
        "FORGEBOT_GITHUB_TOKN": "ghp_not_to_be_shown",
        "forgebot_workres": "3",  # the environment is read in any case
        "FORGEBOT_ZZZ": "1",
        "FORGEBOT_WORKERS": "3",
        "FORGEBOT_REFERENCE": "/data",  # where the tests find recorded data
        "FORGEBOT_HOOK_SECRET_CI": "s",  # named by repositories' secret_env
        "FORGEBOT_TEST_SLEEP": "1",  # the test suite's own
        "PATH": "/bin",
    }
    assert unknown_variables(environ) == [
        "FORGEBOT_GITHUB_TOKN is not a forgebot setting and is ignored; did you mean FORGEBOT_GITHUB_TOKEN?",
        "FORGEBOT_ZZZ is not a forgebot setting and is ignored; see the Settings section of the README",
        "forgebot_workres is not a forgebot setting and is ignored; did you mean FORGEBOT_WORKERS?",
    ]


def test_the_cli_warns_of_a_mistyped_variable_at_start(tmp_path: Path) -> None:
    result = run("deliveries", env={"FORGEBOT_GITHUB_TOKN": "ghp_not_to_be_shown", "FORGEBOT_DATABASE": str(tmp_path / "none.db")})
    assert "forgebot: warning: FORGEBOT_GITHUB_TOKN is not a forgebot setting and is ignored; did you mean FORGEBOT_GITHUB_TOKEN?" in result.stderr
    assert "ghp_not_to_be_shown" not in result.stderr + result.stdout


@pytest.mark.parametrize("variable", ["FORGEBOT_RECONCILE_INTERVAL", "FORGEBOT_DELIVERY_RETENTION"])
def test_a_duration_past_any_range_is_one_line(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    [problem] = refusal(monkeypatch, **{variable: "99999999999999w"})
    assert problem.startswith(f"{variable}: '99999999999999w' is longer than any duration can be")


@pytest.mark.parametrize("variable", ["FORGEBOT_GITHUB_TOKEN", "FORGEBOT_GITEA_TOKEN", "FORGEBOT_ADMIN_TOKEN"])
@pytest.mark.parametrize("token", [f"{PASSWORD}\nX-Injected: 1", f"{PASSWORD} two", f"{PASSWORD}\tX", "  \n"])
def test_a_token_that_cannot_be_a_header_is_refused_without_quoting_it(variable: str, token: str) -> None:
    env = {variable: token, "FORGEBOT_GITEA_URL": "https://gitea.example"}
    result = run("deliveries", env=env)
    assert result.returncode == 2 and PASSWORD not in result.stderr + result.stdout
    assert result.stderr.splitlines() == [
        f"forgebot: invalid setting: {variable}: must be visible ASCII characters, without spaces or line breaks"
        " (it is sent in an HTTP header)"]


def test_a_database_url_of_an_unknown_scheme_is_one_settings_error_without_its_password(tmp_path: Path) -> None:
    result = run("deliveries", env={"FORGEBOT_DATABASE_URL": "mysql://bot:hunter2@db/forgebot"})
    assert result.returncode == 2
    assert "FORGEBOT_DATABASE_URL: must be sqlite:///" in result.stderr and "hunter2" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1
