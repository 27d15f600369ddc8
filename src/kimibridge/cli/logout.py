"""`kimibridge logout`: remove kimibridge's own credential, never kimi-cli's files."""

from __future__ import annotations

from kimibridge.cli._app import command_app

__all__ = ["app"]

app = command_app()


@app.command("logout")
def logout() -> None:
    """Sign out: delete kimibridge's own credential file.

    A kimi-cli or Kimi Code login that kimibridge shared is left exactly as it is (sign out
    of those in kimi-cli or Kimi Code themselves). Settings such as the identity preset are kept.

    Examples:

    \b
      kimibridge logout
      kimibridge logout && kimibridge login --api-key
    """
    from kimibridge.cli._account import account_context
    from kimibridge.cli._output import console
    from kimibridge.config import update_config_file
    from kimibridge.errors import ConfigError
    from kimibridge.kimi.endpoints import ENV_API_KEY

    ctx = account_context(load_login=False)
    try:
        login = ctx.store.load()
    except ConfigError:  # an unreadable file is exactly what logout must be able to remove
        login = None
    # under the refresh lock, so a running gateway's refresh cannot write the login back
    removed = ctx.store.remove_login() if ctx.store.path.exists() else False
    if ctx.paths.config_file.exists():
        update_config_file(ctx.paths.config_file, {"sign_in": None})
    if not removed:
        console.print(f"Not signed in; there was no credential at {ctx.store.path}.")
        return
    console.print(
        f"Signed out: removed kimibridge's credential {ctx.store.path}.",
        highlight=False,
        soft_wrap=True,
    )
    if login is not None and login.sharing != "own" and login.shared_path is not None:
        console.print(
            f"The {login.sharing} login at {login.shared_path} was shared, not owned: "
            "it was left untouched.",
            highlight=False,
            soft_wrap=True,
        )
    if ctx.environ.get(ENV_API_KEY):
        console.print("Note: KIMI_API_KEY is still set in this environment and will be used.")
