"""Safe to serve to a classroom: forged checkpoints, paths, URLs, image folders and the command line.

Every server here is started by the test on 127.0.0.1, which the download policy refuses unless
$UNSIR_URL_ALLOW names the exact host:port; every file lives under pytest's temporary folders.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from studio import imports
from studio.serving import served_where
from studio.setup import Setup
from unsir_core.cli import main as cli
from unsir_core.checkpoints import fetch, roots
from unsir_core.common import strict_json
from unsir_core.common.errors import CheckpointError, ConfigError, DataError
from unsir_core.common.files import TMP_MARK, atomic_write, check_output, sweep_stale_temps
from unsir_core.common.paths import ASSETS_DIR, model_store
from unsir_core.checkpoints.store import META_KEY, list_models, load_model, read_info

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ASSETS_DIR / "shapes10-smallcnn.safetensors"
POISONS = {"width-100": {"width": 100}, "width-1000": {"width": 1000}, "input-size-100000": {"input_size": 100_000},
           "test-acc-text": {"test_acc": "notanumber"}}


def forged(path: Path, **changes) -> Path:
    """A copy of the shipped model with `changes` written into its metadata (the weights stay as they are)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(SHIPPED), framework="pt") as f:
        meta = json.loads(f.metadata()[META_KEY])
    save_file(load_file(str(SHIPPED)), str(path), metadata={META_KEY: json.dumps({**meta, **changes})})
    return path


# --- forged checkpoint metadata ---------------------------------------------------------------------------

@pytest.mark.parametrize("changes", POISONS.values(), ids=POISONS.keys())
def test_forged_metadata_is_refused_and_never_listed(tmp_path, changes):
    path = forged(tmp_path / "forged.safetensors", **changes)
    field = next(iter(changes))
    with pytest.raises(CheckpointError, match=f"metadata of forged.safetensors is invalid: {field}"):
        read_info(path)
    with pytest.raises(CheckpointError, match="invalid"):
        load_model(path)
    assert list_models(dirs=(tmp_path,)) == []


def test_forged_metadata_costs_no_memory():
    """Every forged file is refused in one fresh process whose peak memory stays within 500 MB of its start
    (building the width-100 network alone took 11.3 GB before the shapes were compared first)."""
    script = """
import json, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.test_security import POISONS, forged
from unsir_core.common.errors import CheckpointError
from unsir_core.checkpoints.store import load_model
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
seconds = {}
with tempfile.TemporaryDirectory() as tmp:
    for name, changes in POISONS.items():
        path = forged(Path(tmp) / f"{name}.safetensors", **changes)
        start = time.perf_counter()
        try:
            load_model(path)
        except CheckpointError:
            seconds[name] = time.perf_counter() - start
print(json.dumps({"extra_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
                  "refused_s": seconds}))
"""
    res = subprocess.run([sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True, timeout=300,
                         cwd=ROOT)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(report["refused_s"]) == set(POISONS)
    assert report["extra_mb"] < 500, report


def test_weights_that_do_not_fit_the_metadata_are_refused_before_building(tmp_path, monkeypatch):
    import unsir_core.models.classifier as classifier

    path = forged(tmp_path / "wide.safetensors", width=4)  # valid metadata, but the weights are width 0.5
    monkeypatch.setattr(classifier.Classifier, "create", lambda info: pytest.fail("the network was built"))
    with pytest.raises(CheckpointError, match="does not fit Small CNN"):
        load_model(path)


@pytest.mark.parametrize("changes, message", [
    ({"arch": "gpt"}, "unknown architecture"),
    ({"class_names": ["a"]}, "class_names"),
    ({"class_names": "abcdefghij"}, "class_names must be a list"),
    ({"in_channels": True}, "in_channels"),
    ({"mean": [0.5, "x", 0.5]}, "mean"),
    ({"std": [0.0, 0.2, 0.2]}, "std must be positive"),
    ({"forgotten": [12]}, "forgotten"),
    ({"test_acc": float("nan")}, "test_acc"),
    ({"test_acc": 250}, "test_acc"),
    ({"width": -1}, "width"),
])
def test_every_metadata_field_is_checked(tmp_path, changes, message):
    with pytest.raises(CheckpointError, match=message):
        read_info(forged(tmp_path / "m.safetensors", **changes))


def test_a_forged_file_in_the_store_breaks_no_page():
    """The reported crash: a stored checkpoint with test_acc "notanumber", selected by a link."""
    from streamlit.testing.v1 import AppTest

    from studio import nav

    model_store().mkdir(parents=True)
    forged(model_store() / "forged.safetensors", test_acc="notanumber")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params = {"model": "forged.safetensors", "data": "folder:/etc"}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Ignored data 'folder:/etc'" in w.value for w in at.warning)
    for page in (nav.NOISE, nav.MODEL):
        at.switch_page(page.path).run()
        assert not at.exception, [e.value for e in at.exception]
    assert "none for Small CNN" in " ".join(m.value for m in at.sidebar.markdown)
    assert "forged.safetensors (missing or invalid)" in at.selectbox(key="setup:model").format_func("forged.safetensors")
    at.selectbox(key="setup:model").set_value("").run()  # the store still works: back to the shipped model
    assert not at.exception and at.subheader[0].value.startswith("Selected model: shapes10-smallcnn")


@pytest.mark.parametrize("changes", POISONS.values(), ids=POISONS.keys())
def test_a_forged_upload_is_refused_and_not_stored(tmp_path, changes):
    payload = forged(tmp_path / "forged.safetensors", **changes).read_bytes()
    with pytest.raises(CheckpointError, match="metadata of upload.safetensors is invalid"):
        imports.from_bytes("upload.safetensors", payload, Setup())
    assert not model_store().exists() or not list(model_store().iterdir())


def test_a_refused_upload_is_checked_once_not_on_every_rerun(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from studio import nav

    checked = []
    real = imports.from_bytes
    monkeypatch.setattr(imports, "from_bytes", lambda name, *a: checked.append(name) or real(name, *a))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()
    at.switch_page(nav.MODEL.path).run()
    at.file_uploader(key="upload").set_value(("zeros.pt", b"\0" * 64, "application/octet-stream")).run()
    at.run()  # any later interaction reruns the page with the file still in the uploader
    assert checked == ["zeros.pt"]
    assert "zeros.pt is damaged" in " ".join(e.value for e in at.error)  # the refusal stays visible


# --- imports: names, NaN weights, paths ------------------------------------------------------------------

def pt_bytes(model) -> bytes:
    buf = io.BytesIO()
    torch.save(model.net.state_dict(), buf)
    return buf.getvalue()


def test_upload_names_stay_usable_and_never_shadow_a_shipped_model(shipped_model, monkeypatch, tmp_path):
    setup = Setup()
    assert imports.from_bytes("模型.pt", pt_bytes(shipped_model), setup) == "模型.safetensors"
    assert imports.from_bytes("!!!.pt", pt_bytes(shipped_model), setup) == "imported.safetensors"
    monkeypatch.setenv(roots.IMPORT_ENV, str(tmp_path))
    (tmp_path / SHIPPED.name).write_bytes(SHIPPED.read_bytes())
    name = imports.from_source(str(tmp_path / SHIPPED.name), setup)
    assert name == "shapes10-smallcnn-2.safetensors"  # not the shipped file's name, which would win
    assert (model_store() / name).exists()


def test_an_upload_with_nan_weights_is_refused(shipped_model):
    broken = shipped_model.copy()
    with torch.no_grad():
        broken.net.fc.weight[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN or infinite weights"):
        imports.from_bytes("nan.pt", pt_bytes(broken), Setup())
    assert not model_store().exists() or not list(model_store().iterdir())


def test_paths_outside_the_roots_get_one_answer_whether_or_not_they_exist(tmp_path, monkeypatch):
    monkeypatch.delenv(roots.IMPORT_ENV, raising=False)
    outside = tmp_path / "secret.safetensors"
    outside.write_bytes(SHIPPED.read_bytes())
    answers = []
    for path in (outside, tmp_path / "missing.safetensors", Path("/etc/shadow"), Path("/etc/nothing-here")):
        with pytest.raises(CheckpointError) as err:
            imports.from_source(str(path), Setup())
        answers.append(str(err.value))
    assert len(set(answers)) == 1 and "can be loaded by path only from" in answers[0]
    assert roots.IMPORT_ENV in answers[0]


def test_the_import_folder_is_a_root_but_its_links_out_are_not(tmp_path, monkeypatch, shipped_model):
    shared, elsewhere = tmp_path / "shared", tmp_path / "elsewhere"
    shared.mkdir(), elsewhere.mkdir()
    monkeypatch.setenv(roots.IMPORT_ENV, str(shared))
    (elsewhere / "m.pt").write_bytes(pt_bytes(shipped_model))
    (shared / "link.pt").symlink_to(elsewhere / "m.pt")
    with pytest.raises(CheckpointError, match="only from"):
        imports.from_source(str(shared / "link.pt"), Setup())
    with pytest.raises(CheckpointError, match="No file at"):
        imports.from_source(str(shared / "missing.pt"), Setup())
    (shared / "mine.pt").write_bytes(pt_bytes(shipped_model))
    assert imports.from_source(str(shared / "mine.pt"), Setup()) == "mine.safetensors"


def test_a_huge_file_is_refused_by_its_size_without_being_read(tmp_path, monkeypatch):
    monkeypatch.setenv(roots.IMPORT_ENV, str(tmp_path))
    huge = tmp_path / "huge.pt"
    with open(huge, "wb") as f:  # sparse: no disk used
        f.truncate(roots.MAX_FILE_BYTES + 1)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the file was read"))
    with pytest.raises(CheckpointError, match="it was not read"):
        imports.from_source(str(huge), Setup())


def test_a_wrong_suffix_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setenv(roots.IMPORT_ENV, str(tmp_path))
    (tmp_path / "notes.bin").write_bytes(b"x" * 100)
    with pytest.raises(CheckpointError, match="Unsupported checkpoint type '.bin'"):
        imports.from_source(str(tmp_path / "notes.bin"), Setup())


# --- damaged files -------------------------------------------------------------------------------------------

class Exploit:
    def __reduce__(self):
        return (os.system, ("true",))


@pytest.mark.parametrize("name, content, message", [
    ("empty.pt", b"", r"is empty \(0 bytes\)"),
    ("zeros.pt", b"\x00" * 64, "is damaged"),
    ("random.pt", bytes(range(7, 256)) * 4, "is damaged"),
    ("text.pth", b"not a checkpoint at all", "is damaged"),
    ("empty.safetensors", b"", r"is empty \(0 bytes\)"),
    ("random.safetensors", bytes(range(256)) * 4, "is damaged"),
    ("evil.pt", pickle.dumps({"fc.weight": Exploit()}), "would run code"),
    ("evil-zip.pt", None, "would run code"),
])
def test_damaged_files_are_called_damaged_and_code_is_called_code(tmp_path, shipped_model, name, content, message):
    path = tmp_path / name
    if content is None:
        torch.save({"fc.weight": Exploit()}, path)  # torch's own zip format
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as err:
        load_model(path, shipped_model.info)
    assert "()." not in str(err.value)  # was: "not a readable PyTorch checkpoint ()."


# --- URLs ---------------------------------------------------------------------------------------------------

class Server:
    """An HTTP server on 127.0.0.1 in a thread, answering with `handle(request_handler)`; counts requests."""

    def __init__(self, handle):
        outer = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                handle(self)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    started = []

    def start(handle):
        started.append(Server(handle))
        return started[-1]

    yield start
    for server in started:
        server.close()


def send_file(payload: bytes):
    def handle(h):
        h.send_response(200)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)
    return handle


def test_loopback_is_refused_before_connecting_unless_allowed(serve, monkeypatch, tmp_path):
    server = serve(send_file(SHIPPED.read_bytes()))
    monkeypatch.delenv(fetch.ALLOW_ENV, raising=False)
    with pytest.raises(CheckpointError, match="loopback, private or link-local"):
        imports.from_source(f"{server.url}/model.safetensors", Setup())
    assert server.requests == 0  # nothing to learn about the port: no connection was made
    monkeypatch.setenv(fetch.ALLOW_ENV, f"127.0.0.1:{server.port}")
    assert imports.from_source(f"{server.url}/model.safetensors", Setup()) == "model.safetensors"
    assert server.requests == 1


def test_a_redirect_to_another_local_port_is_refused(serve, monkeypatch, tmp_path):
    target = serve(send_file(SHIPPED.read_bytes()))

    def redirect(h):
        h.send_response(302)
        h.send_header("Location", f"{target.url}/model.safetensors")
        h.end_headers()

    first = serve(redirect)
    monkeypatch.setenv(fetch.ALLOW_ENV, f"127.0.0.1:{first.port}")  # only the first server is trusted
    with pytest.raises(CheckpointError, match=f"Refused {target.url}"):
        fetch.download(f"{first.url}/model.safetensors", tmp_path / "m.safetensors")
    assert first.requests == 1 and target.requests == 0


def test_a_slow_drip_is_stopped_at_the_total_deadline(serve, monkeypatch, tmp_path):
    def drip(h):
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(300):  # 1,000 bytes over 30 s: each read is quick, the whole is not
            try:
                h.wfile.write(b"x")
                h.wfile.flush()
            except OSError:
                return
            time.sleep(0.1)

    server = serve(drip)
    monkeypatch.setenv(fetch.ALLOW_ENV, f"127.0.0.1:{server.port}")
    start = time.monotonic()
    with pytest.raises(CheckpointError, match="took longer than 1 s"):
        fetch.download(f"{server.url}/m.pt", tmp_path / "m.pt", deadline_s=1.0)
    assert time.monotonic() - start < 15  # the drip alone lasts 30 s


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_a_body_over_the_size_cap_is_refused(serve, monkeypatch, tmp_path, declared):
    def big(h):
        h.send_response(200)
        if declared:
            h.send_header("Content-Length", str(4096))
        h.end_headers()
        h.wfile.write(b"x" * 4096)
        h.close_connection = True

    server = serve(big)
    monkeypatch.setenv(fetch.ALLOW_ENV, f"127.0.0.1:{server.port}")
    with pytest.raises(CheckpointError, match="larger than"):
        fetch.download(f"{server.url}/m.pt", tmp_path / "m.pt", max_bytes=1024)


@pytest.mark.parametrize("length", ["²", "-5", "1e3", "0x1", ""])
def test_a_content_length_that_is_not_ascii_digits_is_a_clear_error(serve, monkeypatch, tmp_path, length):
    def odd(h):  # '²'.isdigit() is True, and int('²') raises ValueError
        h.send_response(200)
        h.send_header("Content-Length", length)
        h.end_headers()
        h.wfile.write(b"x" * 12)
        h.close_connection = True

    server = serve(odd)
    monkeypatch.setenv(fetch.ALLOW_ENV, f"127.0.0.1:{server.port}")
    with pytest.raises(CheckpointError, match="answered a broken Content-Length .*: it is not a size in bytes"):
        fetch.download(f"{server.url}/m.pt", tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_the_model_page_shows_a_broken_content_length_as_an_error(serve, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    from studio import nav

    def odd(h):
        h.send_response(200)
        h.send_header("Content-Length", "²")
        h.end_headers()
        h.wfile.write(SHIPPED.read_bytes()[:100])
        h.close_connection = True

    server = serve(odd)
    monkeypatch.setenv(fetch.ALLOW_ENV, f"127.0.0.1:{server.port}")
    monkeypatch.setenv("UNSIR_HOME", str(tmp_path / "home"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()
    at.switch_page(nav.MODEL.path).run()
    at.text_input(key="source").set_value(f"{server.url}/model.safetensors").run()
    at.button(key="load-source").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("answered a broken Content-Length ('²')" in e.value for e in at.error), [e.value for e in at.error]
    assert server.requests == 1


@pytest.mark.parametrize("url, message", [
    ("file:///etc/passwd", "Only http and https"),
    ("ftp://example.org/m.pt", "Only http and https"),
    ("http://169.254.169.254/latest/m.pt", "loopback, private or link-local"),
    ("http://10.0.0.1/m.pt", "loopback, private or link-local"),
    ("http://[::1]:8080/m.pt", "loopback, private or link-local"),
])
def test_urls_that_are_not_public_http_are_refused(url, message, tmp_path):
    with pytest.raises(CheckpointError, match=message):
        fetch.download(url, tmp_path / "m.pt")


def test_a_url_with_the_wrong_suffix_is_refused_before_fetching(serve, monkeypatch):
    server = serve(send_file(b"x"))
    monkeypatch.setenv(fetch.ALLOW_ENV, f"127.0.0.1:{server.port}")
    with pytest.raises(CheckpointError, match="Unsupported checkpoint type"):
        imports.from_source(f"{server.url}/index.html", Setup())
    assert server.requests == 0


@pytest.mark.parametrize("address, public", [
    ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.0.7", False), ("172.16.0.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("::1", False), ("fe80::1", False), ("fd00::1", False), ("::ffff:127.0.0.1", False),
    ("93.184.216.34", True), ("2606:4700::1111", True),
])
def test_only_global_unicast_addresses_are_public(address, public):
    assert fetch.is_public(address) is public


# --- image folders --------------------------------------------------------------------------------------

@pytest.mark.parametrize("folder", ["/etc", "/proc", "/", "~", "../../etc"])
def test_image_folders_outside_the_data_roots_are_ignored_in_links(folder):
    setup, problems = Setup.from_query({"data": f"folder:{folder}"})
    assert setup.dataset == "shapes10"
    assert problems and "Image folders can be used only from" in problems[0]


def test_image_folders_inside_the_data_roots_are_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv(roots.IMPORT_ENV, str(tmp_path))
    (tmp_path / "faces").mkdir()
    setup, problems = Setup.from_query({"data": f"folder:{tmp_path / 'faces'}"})
    assert setup.dataset == f"folder:{tmp_path / 'faces'}" and not problems


def test_an_unreadable_image_folder_is_a_clear_error(tmp_path, monkeypatch):
    from unsir_core.data import folder

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path / "x"))

    monkeypatch.setattr(folder, "_class_files", denied)
    with pytest.raises(DataError, match="Cannot read the image folder .*Permission denied"):
        folder.load_image_folder(tmp_path)


# --- files ------------------------------------------------------------------------------------------------

def test_stale_temporary_files_are_swept_and_never_listed(tmp_path):
    model_store().mkdir(parents=True)
    stale = model_store() / f".m.safetensors{TMP_MARK}abcd1234.tmp"
    fresh = model_store() / f".n.safetensors{TMP_MARK}efgh5678.tmp"
    foreign = model_store() / ".someone-else.tmp"
    for path in (stale, fresh, foreign):
        path.write_bytes(b"\0" * 10)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(foreign, (old, old))
    assert all(m.path.parent != model_store() for m in list_models())
    assert not stale.exists() and fresh.exists() and foreign.exists()
    assert sweep_stale_temps(model_store(), older_than_s=0) == [fresh]


def test_a_killed_save_leaves_nothing_the_next_write_keeps(tmp_path):
    target = tmp_path / "r.json"
    leftover = tmp_path / f".r.json{TMP_MARK}zzzz9999.tmp"
    leftover.write_bytes(b"")
    os.utime(leftover, (0, 0))
    atomic_write(target, lambda tmp: tmp.write_text("{}"))
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_output_paths_are_checked_for_suffix_folder_and_overwrite(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    (tmp_path / "old.json").write_text("keep")
    cases = [(tmp_path / "r.txt", "should end in .json"), (tmp_path / "file" / "r.json", "is a file"),
             (tmp_path / "no" / "r.json", "does not exist"), (tmp_path / "old.json", "add --force")]
    for path, message in cases:
        with pytest.raises(ConfigError, match=message):
            check_output(path, (".json",), False, "--out")
    assert check_output(tmp_path / "old.json", (".json",), True, "--out") == tmp_path / "old.json"
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # a read-only folder (root may write anywhere)
    with pytest.raises(ConfigError, match="is not writable"):
        check_output(tmp_path / "new.json", (".json",), False, "--out")


def test_strict_json_writes_null_and_says_where():
    text = strict_json.dumps({"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": -float("inf")}})
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in the JSON"))
    assert data["a"] is None and data["b"] == [1.0, None] and data["c"]["d"] is None
    assert data[strict_json.NON_FINITE] == ["$.a", "$.b[1]", "$.c.d"]


# --- command line ---------------------------------------------------------------------------------------

def run_cli(capsys, *args):
    """`python -m unsir_core ARGS` in this process: (status, stdout, stderr); argparse errors exit 2 too."""
    try:
        code = cli.main(list(args))
    except SystemExit as stop:
        code = stop.code
    out = capsys.readouterr()
    return code, out.out, out.err


def cli_cases(tmp: Path) -> dict[str, list[str]]:
    (tmp / "afile").write_text("x")
    (tmp / "taken.json").write_text("keep")
    for name in ("m.ckpt", "m.bin"):
        (tmp / name).write_bytes(SHIPPED.read_bytes())
    return {
        "forget-superscript": ["unlearn", "--forget", "²"],
        "huge-seed": ["unlearn", "--forget", "0", "--seed", "99999999999999999999"],
        "device-tpu": ["unlearn", "--forget", "0", "--device", "tpu"],
        "ckpt-with-arch": ["evaluate", "--checkpoint", str(tmp / "m.ckpt"), "--arch", "smallcnn"],
        "bin-with-arch": ["unlearn", "--forget", "0", "--checkpoint", str(tmp / "m.bin"), "--arch", "smallcnn"],
        "save-model-pt": ["unlearn", "--forget", "0", "--save-model", str(tmp / "out.pt")],
        "save-model-under-file": ["unlearn", "--forget", "0", "--save-model", str(tmp / "afile" / "m.safetensors")],
        "out-under-file": ["unlearn", "--forget", "0", "--out", str(tmp / "afile" / "r.json")],
        "out-exists": ["unlearn", "--forget", "0", "--out", str(tmp / "taken.json")],
        "train-out-missing-folder": ["train", "--out", str(tmp / "missing" / "m.safetensors")],
        "compare-out-suffix": ["compare", "--forget", "0", "--format", "csv", "--out", str(tmp / "t.json")],
        "reference-missing": ["compare", "--forget", "0", "--reference", str(tmp / "none.safetensors")],
    }


@pytest.mark.parametrize("case", ["forget-superscript", "huge-seed", "device-tpu", "ckpt-with-arch", "bin-with-arch",
                                  "save-model-pt", "save-model-under-file", "out-under-file", "out-exists",
                                  "train-out-missing-folder", "compare-out-suffix", "reference-missing"])
def test_bad_cli_input_fails_before_any_work(tmp_path, capsys, monkeypatch, case):
    import unsir_core.experiments.compare
    import unsir_core.training.train
    import unsir_core.algorithm.unlearn

    for module, name in ((unsir_core.algorithm.unlearn, "optimize_noise"), (unsir_core.training.train, "fit"),
                         (unsir_core.experiments.compare, "compare")):
        monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail("work started"))
    code, out, err = run_cli(capsys, *cli_cases(tmp_path)[case], "--quiet")
    assert code == 2 and "error:" in err and "Traceback" not in err, err
    assert out == ""
    assert (tmp_path / "taken.json").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "m.bin", "m.ckpt", "taken.json"]


def test_class_names_with_commas_and_edge_spaces_can_be_chosen():
    from unsir_core.data import ImageData

    x, y = torch.zeros(3, 3, 4, 4, dtype=torch.uint8), torch.arange(3)
    data = ImageData("toy", ("a, b", " c ", "c"), x, y, x, y, (0.5,) * 3, (0.25,) * 3)
    assert data.resolve_classes(cli._classes('"a, b"')) == [0]
    assert data.resolve_classes(cli._classes('" c ", 2')) == [1, 2]
    assert data.resolve_classes(cli._classes("c")) == [2]
    with pytest.raises(ConfigError, match="Unbalanced"):
        cli._classes('"a, b')


def test_evaluate_flags_nan_weights(tmp_path, capsys, shipped_model):
    from unsir_core.checkpoints.store import save_model

    broken = shipped_model.copy()
    with torch.no_grad():
        broken.net.fc.weight.fill_(float("nan"))
    path = save_model(broken, tmp_path / "nan.safetensors")
    code, out, err = run_cli(capsys, "evaluate", "--checkpoint", str(path), "--forget", "triangle", "--quiet",
                             "--device", "cpu")
    assert code == 0, err
    report = json.loads(out, parse_constant=lambda c: pytest.fail(f"bare {c} in the JSON"))
    assert report["non_finite_weights"] == ["fc.weight"]
    assert "broken" in report["warning"] and "warning:" in err


# --- serving --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("address, expected", [
    ("127.0.0.1", "this computer only"), ("localhost", "this computer only"),
    ("0.0.0.0", "the network (every network interface"), ("", "the network (every network interface"),
    ("192.168.1.20", "the network (192.168.1.20"),
])
def test_the_sidebar_says_where_the_app_is_served(address, expected):
    assert served_where(address, 8501).startswith(expected)


@pytest.mark.parametrize("extra, address", [([], "127.0.0.1"), (["--lan"], "0.0.0.0")])
def test_run_sh_serves_localhost_unless_asked_for_the_network(tmp_path, extra, address):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "python"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    (venv / ".installed-requirements.txt").write_bytes((ROOT / "requirements.txt").read_bytes())
    res = subprocess.run(["bash", str(ROOT / "run.sh"), "app", *extra, "--server.port=8611"], capture_output=True,
                         text=True, env={**os.environ, "UNSIR_VENV": str(venv)}, timeout=60)
    assert res.returncode == 0, res.stderr
    assert f"--server.address={address}" in res.stdout and "--server.port=8611" in res.stdout
    assert "--lan" not in res.stdout
    assert ("to the network" in res.stderr) == (address == "0.0.0.0")


def test_uploads_are_capped_at_what_a_checkpoint_needs():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1024**2 == imports.MAX_UPLOAD_BYTES
    assert config["server"]["address"] == "127.0.0.1"
