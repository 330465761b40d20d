"""The SeekServer's generated pages: a folder's index (HTML or JSON), health and metrics.

Pure functions over what the server knows (no sockets, no containers): :mod:`qeltrix.server`
calls them from its native server's page callback. Stored names are attacker-controlled (anyone
who can put a container in the folder chooses its sealed name), so every name is escaped for
its place: HTML text, a URL path segment, JSON.
"""

from __future__ import annotations

import html
import json
import time
import urllib.parse
from dataclasses import dataclass

__all__ = ["Listed", "Folder", "folder_at", "render_html", "render_json", "wants_json", "metrics_text"]


@dataclass(frozen=True)
class Listed:
    """One served container, as the index shows it."""
    path: str          # its URL path ("/" + stored name)
    size: int          # plaintext bytes
    mtime: int | None  # Unix seconds
    content_type: str


@dataclass(frozen=True)
class Folder:
    path: str                                   # "/" or "/a/b/"
    folders: list[tuple[str, int]]              # (segment, number of files below)
    files: list[tuple[str, Listed]]             # (what is shown: a segment or a whole odd name)


def _plain(rel: str) -> bool:
    """A name that reads as a path of ordinary segments (no empty, "." or ".." segment): shown
    in folders. Any other name is listed whole at the top (its link keeps its slashes escaped,
    so no browser or proxy resolves it as a dot segment)."""
    return all(seg not in ("", ".", "..") for seg in rel.split("/"))


def folder_at(path: str, entries: list[Listed]) -> Folder | None:
    """What the folder at ``path`` (ending in "/") holds, or None when nothing is below it."""
    if not path.endswith("/"):
        return None
    prefix = path[1:]
    folders: dict[str, int] = {}
    files: list[tuple[str, Listed]] = []
    for e in entries:
        rel = e.path[1:]
        if not _plain(rel):
            if path == "/":
                files.append((rel, e))
            continue
        if not rel.startswith(prefix):
            continue
        rest = rel[len(prefix):]
        head, sep, _ = rest.partition("/")
        if sep:
            folders[head] = folders.get(head, 0) + 1
        else:
            files.append((rest, e))
    if path != "/" and not folders and not files:
        return None
    return Folder(path, sorted(folders.items()), sorted(files, key=lambda t: t[0]))


def _href(shown: str) -> str:
    """A relative link (so the index works under a proxy's prefix) with every character that
    could end a segment, start a scheme or a query escaped ("/" too: an odd name's slashes)."""
    return "./" + urllib.parse.quote(shown, safe="")


def _visible(name: str) -> str:
    """A name for HTML text: control characters shown as \\xNN, then escaped."""
    out = []
    for ch in name:
        o = ord(ch)
        if o < 0x20 or 0x7F <= o < 0xA0 or 0xD800 <= o < 0xE000:
            out.append("\\x%02x" % o if o < 0x100 else "\\u%04x" % o)
        else:
            out.append(ch)
    return html.escape("".join(out), quote=True)


def _when(t: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t)) if t is not None else "-"


_STYLE = ("body{font:14px/1.4 system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
          "td,th{padding:.2em .8em;text-align:left;vertical-align:top;white-space:nowrap}"
          "td.n{white-space:normal;word-break:break-all;min-width:12em;max-width:60em}"
          "td.s{text-align:right;font-variant-numeric:tabular-nums}th{border-bottom:1px solid #ccc}")


def render_html(f: Folder) -> bytes:
    title = "Index of " + _visible(f.path)
    rows = []
    if f.path != "/":
        rows.append('<tr><td class="n"><a href="../">../</a></td><td></td><td></td><td></td></tr>')
    for seg, count in f.folders:
        rows.append(f'<tr class="dir"><td class="n"><a href="{_href(seg)}/">{_visible(seg)}/</a></td>'
                    f'<td class="s">{count} file{"s" if count != 1 else ""}</td><td></td><td>folder</td></tr>')
    for shown, e in f.files:
        rows.append(f'<tr class="file"><td class="n"><a href="{_href(shown)}">{_visible(shown)}</a></td>'
                    f'<td class="s" data-bytes="{e.size}">{e.size:,}</td><td>{_when(e.mtime)}</td>'
                    f"<td>{html.escape(e.content_type)}</td></tr>")
    page = (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width"><style>{_STYLE}</style></head>\n'
            f"<body><h1>{title}</h1>\n<table><thead><tr><th>Name</th><th>Size (bytes)</th>"
            f"<th>Modified</th><th>Type</th></tr></thead>\n<tbody>\n" + "\n".join(rows) +
            "\n</tbody></table></body></html>\n")
    return page.encode("utf-8", "replace")


def render_json(f: Folder) -> bytes:
    items = [{"name": seg, "type": "folder", "href": _href(seg) + "/", "files": count}
             for seg, count in f.folders]
    items += [{"name": shown, "type": "file", "path": e.path, "href": _href(shown), "size": e.size,
               "mtime": e.mtime, "content_type": e.content_type} for shown, e in f.files]
    return (json.dumps({"path": f.path, "entries": items}, ensure_ascii=True, indent=1) + "\n").encode()


def wants_json(query: str, accept: str) -> bool:
    fmt = urllib.parse.parse_qs(query).get("format", [""])[-1]
    if fmt:
        return fmt == "json"
    types = [t.split(";")[0].strip().lower() for t in accept.split(",")]
    return "application/json" in types and "text/html" not in types


HTML_FIELDS = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache"), ("Vary", "Accept"),
               ("X-Content-Type-Options", "nosniff"),
               ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")]
JSON_FIELDS = [("Content-Type", "application/json"), ("Cache-Control", "no-cache"), ("Vary", "Accept"),
               ("X-Content-Type-Options", "nosniff")]


def _metric(out: list, name: str, kind: str, help_: str, samples) -> None:
    out.append(f"# HELP {name} {help_}")
    out.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        lab = "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}" if labels else ""
        out.append(f"{name}{lab} {value}")


def metrics_text(native: dict, cache: dict, containers: int) -> bytes:
    """Prometheus' text format (0.0.4). Labels hold status codes and bucket bounds only: never a
    name, a path or anything about keys."""
    m: list[str] = []
    _metric(m, "qeltrix_http_responses_total", "counter", "HTTP responses, counted when they end, by status code.",
            [((("code", str(k)),), v) for k, v in sorted(native["responses"].items())])
    _metric(m, "qeltrix_http_response_body_bytes_total", "counter",
            "Response body bytes sent (multipart framing included).", [((), native["body_bytes"])])
    _metric(m, "qeltrix_http_response_head_bytes_total", "counter", "Status lines and header fields sent.",
            [((), native["head_bytes"])])
    _metric(m, "qeltrix_http_responses_aborted_total", "counter",
            "Responses cut short (the client went away or timed out, a block failed authentication, "
            "the server stopped).",
            [((), native["aborted"])])
    _metric(m, "qeltrix_http_auth_failures_total", "counter", "Requests refused for a missing or wrong token (401).",
            [((), native["auth_failures"])])
    _metric(m, "qeltrix_connections_accepted_total", "counter", "Connections accepted.", [((), native["accepted"])])
    _metric(m, "qeltrix_connections_refused_total", "counter", "Connections refused over the connection limit.",
            [((), native["refused"])])
    _metric(m, "qeltrix_open_connections", "gauge", "Connections open now.", [((), native["open_connections"])])
    _metric(m, "qeltrix_blocks_decrypted_total", "counter", "Blocks authenticated and decrypted.",
            [((), cache["decrypted"])])
    _metric(m, "qeltrix_block_cache_hits_total", "counter", "Reads of a block found decrypted in the cache.",
            [((), cache["hits"])])
    _metric(m, "qeltrix_block_cache_misses_total", "counter", "Reads of a block that had to be decrypted.",
            [((), cache["misses"])])
    _metric(m, "qeltrix_block_cache_bytes", "gauge", "Decrypted bytes held in the block cache.", [((), cache["bytes"])])
    _metric(m, "qeltrix_containers", "gauge", "Containers served.", [((), containers)])
    name = "qeltrix_http_request_duration_seconds"
    m.append(f"# HELP {name} From a request's parse to its response's last byte sent.")
    m.append(f"# TYPE {name} histogram")
    total = 0
    for bound, count in zip([*native["duration_bounds"], "+Inf"], native["duration_counts"]):
        total += count
        m.append(f'{name}_bucket{{le="{bound}"}} {total}')
    m.append(f"{name}_sum {native['duration_sum']:.6f}")
    m.append(f"{name}_count {total}")
    return ("\n".join(m) + "\n").encode()


METRICS_FIELDS = [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), ("Cache-Control", "no-store")]
