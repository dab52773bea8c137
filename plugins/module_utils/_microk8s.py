# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
#
# Private to this collection: the one runner for the microk8s and snap command lines.
# Modules never build command strings; they hand argv lists to Microk8sRunner.run().
from __future__ import annotations

from ansible_collections.onprem.microk8s.plugins.module_utils import _parsers as parsers

#: The environment every command runs with: snap and microk8s localise their output otherwise.
C_LOCALE = {"LANGUAGE": "C", "LC_ALL": "C", "LANG": "C"}

#: Extra seconds the runner waits beyond a command's own timeout before it kills it.
KILL_GRACE = 10

#: `timeout` exits with this when the command ran out of time.
TIMEOUT_RC = 124

#: Close stdin, so that any prompt (`read -p`, Y/N questions) fails at once instead of waiting for an answer,
#: then bound the run with coreutils `timeout`. The command itself is passed as separate argv items ("$@").
_CLOSE_STDIN = 'exec "$@" </dev/null'


class Microk8sError(Exception):
    """A failure the module should report: a message plus cmd/rc/stdout/stderr context."""

    def __init__(self, msg, **context):
        super().__init__(msg)
        self.msg = msg
        self.context = context


class CommandResult:
    """What one command did: its command line, rc, stdout and stderr. It unpacks as (rc, stdout, stderr), and a
    failure is raised as `result.error(msg)` carrying all four, instead of a context built by hand in each module
    (the shape of community.docker's `_common_cli.py` run results)."""

    __slots__ = ("cmd", "rc", "stderr", "stdout")

    def __init__(self, cmd, rc, stdout, stderr):
        #: The command as a user would type it (secrets are masked by the module's no_log_values).
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def __iter__(self):
        return iter((self.rc, self.stdout, self.stderr))

    @property
    def context(self):
        return {"cmd": self.cmd, "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr}

    def error(self, msg):
        """A Microk8sError for this command: msg plus its cmd/rc/stdout/stderr."""
        return Microk8sError(msg, **self.context)


class Microk8sRunner:
    """Runs microk8s and snap commands on the node: argv lists only, C locale, stdin closed, bounded time."""

    def __init__(self, module, timeout=300):
        self.module = module
        self.timeout = timeout
        self._binaries = {}
        self._version = None
        #: The `snap list` row of microk8s (version as printed, revision, tracking...), set by version().
        self.snap = None

    def binary(self, name):
        """Find a binary once (microk8s lives in /snap/bin, which is not always on PATH)."""
        if name not in self._binaries:
            path = self.module.get_bin_path(name, opt_dirs=["/snap/bin", "/usr/bin", "/usr/local/bin"])
            if not path:
                raise Microk8sError(
                    "%s was not found on this node: install MicroK8s first (snap install microk8s --classic "
                    "--channel=1.xx/stable, or the offline .snap/.assert files)" % name
                )
            self._binaries[name] = path
        return self._binaries[name]

    def argv(self, program, args, timeout=None):
        """The full argv for a command: stdin closed, timeout applied, program resolved."""
        seconds = int(timeout or self.timeout)
        return [
            "/bin/sh",
            "-c",
            _CLOSE_STDIN,
            "microk8s-runner",
            "timeout",
            "-k",
            str(KILL_GRACE),
            str(seconds),
            self.binary(program),
            *args,
        ]

    def run(self, args, program="microk8s", timeout=None, check=True, data=None):
        """Run `program args...`; return a CommandResult (unpacks as rc, stdout, stderr). With check, a non-zero rc
        raises Microk8sError; running out of time always does."""
        seconds = int(timeout or self.timeout)
        argv = self.argv(program, args, seconds)
        if data is not None:
            argv = argv[4:]  # stdin carries data: no closing wrapper, timeout still applies
        rc, out, err = self.module.run_command(argv, environ_update=C_LOCALE, data=data, check_rc=False)
        result = CommandResult(self.display(program, args), rc, out, err)
        if rc == TIMEOUT_RC:
            raise result.error("%s %s did not finish within %s seconds" % (program, args[0] if args else "", seconds))
        if check and rc != 0:
            raise result.error("%s failed with exit code %s: %s" % (result.cmd, rc, (err or out).strip()))
        return result

    @staticmethod
    def display(program, args):
        """The command as a user would type it (for messages; secrets are masked by no_log_values)."""
        return " ".join([program, *args])

    def fail(self, msg, **context):
        """Fail the module with one shape: msg plus cmd/rc/stdout/stderr when known."""
        self.module.fail_json(msg=msg, **{k: v for k, v in context.items() if v is not None})

    def hide(self, *secrets):
        """Never let these values reach any output, log or error message."""
        for secret in secrets:
            if secret:
                self.module.no_log_values.add(secret)

    # -- facts every module needs -----------------------------------------------------------------------------

    def use_snap(self, snap):
        """Take the `snap list` row of microk8s from a listing the caller already read (saves one `snap list`)."""
        self.snap = snap
        self._version = parsers.parse_version(snap["version"], tracking=snap["tracking"])

    def version(self):
        """The installed MicroK8s version as (major, minor), read once from `snap list microk8s`."""
        if self._version is None:
            result = self.run(["list", "microk8s"], program="snap", timeout=60, check=False)
            snap = parsers.parse_snap_list(result.stdout).get("microk8s") if result.rc == 0 else None
            if not snap:
                raise result.error("MicroK8s is not installed on this node (snap list microk8s found nothing)")
            self.snap = snap
            self._version = parsers.parse_version(snap["version"], tracking=snap["tracking"])
        return self._version

    def status(self, wait_ready=True, timeout=60):
        """Read `microk8s status --format yaml` and return the normalised status dict (see parsers.parse_status)."""
        args = ["status", "--format", "yaml"]
        if wait_ready:
            args += ["--wait-ready", "--timeout", str(int(timeout))]
        result = self.run(args, timeout=int(timeout) + 60, check=False)
        status = parsers.parse_status(result.stdout, result.stderr, result.rc)
        if status["state"] == "error":
            raise result.error("microk8s status failed: %s" % (result.stderr or result.stdout).strip())
        return status


NO_PERMISSION_ADVICE = (
    "MicroK8s refused this user: run the task with become: true (or add the user to the microk8s group, "
    "snap_microk8s on strict channels)"
)


def status_report(runner, wait_ready=True, timeout=60):
    """The node's state as microk8s_status returns it (and node_info with status=true): one status read."""
    runner.version()
    status = runner.status(wait_ready=wait_ready, timeout=timeout)
    if status["state"] == "no_permission":
        raise Microk8sError("%s: %s" % (NO_PERMISSION_ADVICE, status["message"]))
    worker = status["state"] == "worker"
    return {
        "state": status["state"],
        "running": None if worker else status["running"],
        "ready": None if worker else status["ready"],
        "version": runner.snap["version"],
        "role": "worker" if worker else "control-plane",
        "high_availability": status["high_availability"],
        "member": parsers.member(status),
        "expected_voters": parsers.expected_voters(status),
        "datastore": status["datastore"],
        "addons": status["addons"],
        "enabled_addons": [parsers.qualified_name(a) for a in status["addons"] if a["status"] == "enabled"],
        "message": status["message"],
    }


def supports(version, minimum):
    """True when version (major, minor) is at least minimum (major, minor)."""
    return tuple(version[:2]) >= tuple(minimum)


def run_module(module, work):
    """Run work(runner) and exit with its result; turn Microk8sError into one fail_json with cmd/rc/stdout/stderr."""
    runner = Microk8sRunner(module, timeout=module.params.get("timeout") or 300)
    try:
        result = work(runner)
    except Microk8sError as exc:
        runner.fail(exc.msg, **exc.context)
    module.exit_json(**result)
