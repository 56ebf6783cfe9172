# Jupyter server settings for pairlab's jupyter service, loaded from /etc/jupyter.
# Knobs a user may change come from the environment that compose.yaml passes in.
import ctypes
import os
import secrets

c = get_config()  # noqa: F821 - injected by traitlets when this file is loaded

# The server's memory holds the cookie secret. Marking the process non-dumpable
# stops the candidate's kernel (same user) from reading /proc/<pid>/mem or environ.
PR_SET_DUMPABLE = 4
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)

# Reached only through the tunnel, on the internal network.
c.ServerApp.ip = "0.0.0.0"
c.ServerApp.port = 8888
c.ServerApp.open_browser = False
# Requests carry the tunnel's public host name, not localhost.
c.ServerApp.allow_remote_access = True
# The tunnel sets X-Forwarded-For, so logs name the real client address.
c.ServerApp.trust_xheaders = True
c.ServerApp.root_dir = "/home/pairlab/work"
c.ServerApp.terminals_enabled = (
    os.environ.get("JUPYTER_TERMINALS", "false").strip().lower() == "true"
)
# A fresh secret each start, kept only in memory, so no file the kernel can read
# lets anyone forge a login cookie; after a restart the links log people in again.
c.ServerApp.cookie_secret = secrets.token_bytes(32)
# A script the candidate plants in an output must not run in the interviewer's
# browser: no inline script or event handler, nothing loaded from elsewhere. Lab's
# settings validator compiles JSON schemas to functions, hence 'unsafe-eval'.
# jupyter_server still adds a sandbox to /files and nbconvert pages on top of this.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self' ws: wss:",
        "font-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
)
c.ServerApp.tornado_settings = {
    "headers": {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
}

# Logins: one token per person, named, from the access file that datagen wrote.
c.ServerApp.identity_provider_class = "pairlab_jupyter.identity.PairlabIdentityProvider"
# No shared server token: every login goes through a person's own token.
c.IdentityProvider.token = ""
# Names and colours come from .env; nobody renames themselves mid-interview.
c.IdentityProvider.updatable_fields = []
# Neither link may shut the server down; that would end the session for both.
c.ServerApp.authorizer_class = "pairlab_jupyter.authorizer.PairlabAuthorizer"
c.ServerApp.quit_button = False
# A wrong or expired link lands on a page that says so in plain words.
c.ServerApp.extra_template_paths = ["/opt/pairlab/templates"]

# Hidden files, caches and checkpoints stay out of the candidate's file browser.
c.ContentsManager.allow_hidden = False
c.ContentsManager.hide_globs = [
    "__pycache__",
    "*.pyc",
    ".*",
    "*~",
]
c.FileContentsManager.delete_to_trash = False

# Collaboration history and session files live in the state volume, outside root_dir.
c.SQLiteYStore.db_path = "/var/lib/pairlab/collab/ystore.db"
# Keep every update: the export builds its playback from this history.
c.SQLiteYStore.squash_after_inactivity_of = None
c.YDocExtension.session_store_path = "/var/lib/pairlab/collab/sessions.json"
c.BaseFileIdManager.db_path = "/var/lib/pairlab/collab/file_id.db"
c.NotebookNotary.db_file = ":memory:"
# Its signing key too: the data folder is read-only, and a key on disk would let the
# kernel sign notebooks; without one, every notebook save fails.
c.NotebookNotary.secret = secrets.token_bytes(32)
# With nothing ever signed, the per-cell trust marks added on read only made the file
# and the collaboration store disagree, and every restart rewrote cells in both copies.
c.ServerApp.contents_manager_class = "pairlab_jupyter.contents.UnmarkedContentsManager"
c.LabApp.workspaces_dir = "/var/lib/pairlab/workspaces"
# JUPYTER_CONFIG_DIR is read-only; Lab's settings (theme, font size) go to scratch.
c.LabApp.user_settings_dir = "/home/pairlab/.jupyter/lab/user-settings"

# The container has no route out: skip every feature that would phone home.
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.news_url = None
c.LabApp.extension_manager = "readonly"

# The interview's record and time box: the server logs every cell run, with who ran
# it, where the kernel cannot rewrite it as it happens; at the deadline it saves the
# notebooks and closes the candidate's open connections.
c.ServerApp.kernel_websocket_connection_class = (
    "pairlab_jupyter.execlog.ExecutionLoggingConnection"
)
c.ExecutionLoggingConnection.execution_log = "/var/lib/pairlab/executions.jsonl"
c.ServerApp.jpserver_extensions.update({"pairlab_jupyter.timebox": True})

# A restart must not lose the last second of typing: save shared documents on the
# way down, so file and collaboration store agree when the rooms reload.
c.ServerApp.jpserver_extensions.update({"pairlab_jupyter.savestop": True})

# The notebooks and state volumes have no size of their own: below JUPYTER_DISK_FLOOR
# free on Docker's disk, stop the candidate's processes before they fill it.
c.ServerApp.jpserver_extensions.update({"pairlab_jupyter.diskguard": True})
