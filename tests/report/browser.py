"""Headless Chromium for the report tests, with the network blocked, and what a page would load.

``blocked_network()`` is a loopback HTTP proxy that answers every request 403 and records it;
Chromium is pointed at it, so nothing leaves the machine and the test sees every request the
page tried. ``render(html_path)`` loads a copy of the page with a small script first in its
head that records uncaught JavaScript errors and, once the page has loaded, how many of its
images decoded; it returns the DOM after the scripts ran.
"""

from __future__ import annotations

import re
import subprocess
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"

# first in <head>: uncaught errors and, after load, images decoded (naturalWidth > 0)
PROBE = """<script>
(function(){
  var root = document.documentElement;
  function add(name, text){ root.setAttribute(name, (root.getAttribute(name) || '') + text + '|'); }
  window.addEventListener('error', function(e){ add('data-js-errors', e.message); });
  window.addEventListener('unhandledrejection',
                          function(e){ add('data-js-errors', String(e.reason)); });
  window.addEventListener('load', function(){
    setTimeout(function(){
      var imgs = document.querySelectorAll('img.leaflet-image-layer');
      var ok = 0;
      imgs.forEach(function(i){ if (i.complete && i.naturalWidth > 0) ok++; });
      root.setAttribute('data-map-images', imgs.length + '/' + ok);
      %s
    }, 0);
  });
})();
</script>"""


class _Recorder(BaseHTTPRequestHandler):
    def _refuse(self) -> None:
        self.server.seen.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_HEAD = do_CONNECT = _refuse

    def log_message(self, *args) -> None:  # quiet
        pass


@contextmanager
def blocked_network():
    """A refusing, recording proxy on 127.0.0.1; yields (proxy URL, list of requests seen)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def chromium(
    args: list[str], profile: Path, proxy: str | None = None
) -> subprocess.CompletedProcess:
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--no-first-run",
        "--no-pings",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,"
        "AutofillServerCommunication,CertificateTransparencyComponentUpdater",
        f"--user-data-dir={profile}",
    ]
    if proxy:
        cmd += [f"--proxy-server={proxy}", "--proxy-bypass-list=<-loopback>"]
    return subprocess.run(cmd + args, capture_output=True, text=True, timeout=120)


def render(html_path: Path, proxy: str, after_load: str = "") -> str:
    """The page's DOM after its scripts ran (``after_load``: more JavaScript to run then)."""
    doc = html_path.read_text(encoding="utf-8")
    probed = html_path.with_name(html_path.stem + "-probed.html")
    probed.write_text(doc.replace("<head>", "<head>" + PROBE % after_load, 1), encoding="utf-8")
    res = chromium(
        ["--virtual-time-budget=8000", "--dump-dom", probed.as_uri()],
        html_path.parent / "chromium-profile",
        proxy,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


# Chromium's own services (component updates, clock, sign-in), which it calls whatever page is
# open; exact hosts, so that a page loading anything from elsewhere is still seen
BROWSER_HOSTS = {
    "accounts.google.com",
    "clients1.google.com",
    "clients2.google.com",
    "update.googleapis.com",
    "safebrowsing.googleapis.com",
    "optimizationguide-pa.googleapis.com",
    "content-autofill.googleapis.com",
    "redirector.gvt1.com",
    "edgedl.me.gvt1.com",
}


def page_requests(seen: list[str]) -> list[str]:
    """The requests the page made: those the proxy saw, less the browser's own services."""
    out = []
    for r in seen:
        target = r.split(" ", 1)[1]
        host = re.sub(r"^[a-z]+://", "", target).split("/", 1)[0].split(":", 1)[0]
        if host not in BROWSER_HOSTS:
            out.append(r)
    return out


def js_errors(dom: str) -> list[str]:
    m = re.search(r'data-js-errors="([^"]*)"', dom)
    return [e for e in (m.group(1).split("|") if m else []) if e]


def external_refs(doc: str) -> dict[str, list[str]]:
    """What a page would fetch from elsewhere: src/href attributes of elements that load what
    they name (not links a person may follow) that are not data: URIs or in-page anchors, CSS
    url()s and @imports that are not data: URIs, and tile URL templates."""
    loaders = r"script|link|img|iframe|frame|source|embed|object|video|audio|input|track"
    attrs = re.findall(rf"""<(?:{loaders})\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']*)["']""", doc)
    css = re.findall(r"""url\(\s*["']?([^"')]+)""", doc)
    return {
        "attributes": [a for a in attrs if not a.startswith(("data:", "#"))],
        "css": [u for u in css if not u.startswith(("data:", "#default#VML"))],
        "imports": re.findall(r"@import[^;]+;", doc),
        "tiles": sorted(set(re.findall(r"""L\.tileLayer\(\s*["']([^"']+)["']""", doc))),
    }
