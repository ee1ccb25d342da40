"""Endpoints in words: their details, the ``plat endpoints list`` table (and the TUI's), what
``plat endpoints check`` found, and ``plat exposed``.

What a connection attempt's outcome means (refused, timed out, reset...) is said in one table
here, so the check command and its error agree.
"""

from __future__ import annotations

from platd.spec.errors import PlatError
from tui.render.text import printable, table

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

CHECK_OUTCOMES = {
    "refused": "the connection was refused: nothing listens there",
    "connect_timeout": "the connection timed out: the address does not answer from this host",
    "unreachable": "the address cannot be reached from this host",
    "closed": "the connection was accepted, then closed without a byte of answer",
    "reset": "the connection was reset before any answer",
    "answer_timeout": "connected, but no answer came within 5 s",
    "no_address": "the endpoint has no address (IPv6 and IPv4 are both off?)",
}


def endpoint_check_lines(r: dict[str, Any]) -> list[str]:
    """`plat endpoints check NAME`: one request through the endpoint, and what came back."""
    where = f" from host {r['from_host']}" if r.get("from_host") else ""
    head = f"Endpoint {r['name']} of {r['target']}: GET / to {r.get('address') or '-'}{where}"
    if r["answered"]:
        lines = [head, f"  answered  {printable(r['first_line'] or '')}",
                 f"  time      connect {r['connect_ms']:g} ms, first byte "
                 f"{r['first_byte_ms']:g} ms, total {r['total_ms']:g} ms",
                 f"  bytes     {r['bytes']}"]
    else:
        lines = [head, f"  no answer: {CHECK_OUTCOMES.get(r['outcome'], r['outcome'])}"]
        if r.get("connect_ms") is not None:
            lines.append(f"  time      connect {r['connect_ms']:g} ms, total {r['total_ms']:g} ms")
    proxy = r.get("proxy_header")
    lines.append(f"  PROXY v2  the app received: source {proxy['source']}, destination "
                 f"{proxy['destination']}" if proxy else "  PROXY     none (proxy_protocol off)")
    lines.append(f"  serving   {r['serving']} instance(s)")
    return lines


def endpoint_not_answering(r: dict[str, Any]) -> PlatError:
    """`plat endpoints check` when nothing answered: exit non-zero, with where to look."""
    from platd.spec.errors import Conflict

    why = CHECK_OUTCOMES.get(r["outcome"], r["outcome"])
    hint = [f"see what serves it: plat endpoints describe {r['name']} --target {r['target']}",
            f"see the instances: plat status --target {r['target']}"]
    if r["serving"] == 0:
        hint.insert(0, "no instance serves it: each needs to be running and healthy")
    return Conflict(f"endpoint {r['name']} did not answer: {why}", hint=hint)


def endpoint_lines(e: dict[str, Any], verb: str | None = None) -> list[str]:
    """An endpoint's details: what `plat endpoints create/describe` and deploy receipts say."""
    head = f"Endpoint {e['name']} of {e['target']}"
    lines = [f"{head} {verb}" if verb else head]
    if e.get("ipv6_address"):
        lines.append(f"  IPv6      {e['ipv6_address']}  port(s) "
                     + ", ".join(str(p) for p in e["external_ports"]))
    if e.get("ipv4_address"):
        lines.append(f"  IPv4      {e['ipv4_address']}  port(s) "
                     + ", ".join(str(p) for p in e["external_ports"]))
    else:
        lines.append("  IPv4      off")
    lines += [
        f"  reach     {'  '.join(e['addresses'])}",
        f"  to        workload {e['workload']}, port {e['internal_port']} ({e['protocol']})",
        f"  PROXY v2  {'on' if e.get('proxy_protocol') == 'v2' else 'off'}",
        f"  source    {'plat.toml of the current release' if e['source'] == 'manifest' else 'plat endpoints create'}",  # noqa: E501
    ]
    behind = e.get("instances") or []
    serving = [i["id"] for i in behind if i["serving"]]
    lines.append("  instances " + (", ".join(serving) if serving else "none serving yet"))
    idle = [f"{i['id']} ({i['state']}, {i['health']})" for i in behind if not i["serving"]]
    if idle:
        lines.append("  not serving: " + ", ".join(idle))
    if e.get("notes"):
        lines.append("Notes:")
        lines += [f"  {n}" for n in e["notes"]]
    return lines


ENDPOINT_HEADERS = ("NAME", "WORKLOAD", "INTERNAL", "PORTS", "IPV6", "IPV4", "PROXY", "SOURCE",
                    "SERVING")


def endpoint_row(e: dict[str, Any]) -> list[Any]:
    """One endpoint as `plat endpoints list` (and the TUI's Endpoints table) shows it."""
    return [e["name"], e["workload"], e["internal_port"],
            ",".join(str(p) for p in e["external_ports"]), e["ipv6_address"] or "off",
            e["ipv4_address"] or "off", e["proxy_protocol"] or "-", e["source"],
            sum(1 for i in e["instances"] if i["serving"])]


def endpoints_table(r: dict[str, Any]) -> list[str]:
    rows = [endpoint_row(e) for e in r["endpoints"]]
    if not rows:
        return [f"{r['target']} has no endpoints",
                f"  create one: plat endpoints create NAME --workload W --internal-port 8080 "
                f"--port 80 --target {r['target']}"]
    return table(rows, ENDPOINT_HEADERS)


EXPOSED_HEADERS = ("FAMILY", "ADDRESS", "PORT", "PROTO", "PROXY", "ENV", "WORKLOAD", "ENDPOINT",
                   "INSTANCES")


def exposed_row(x: dict[str, Any]) -> list[Any]:
    return [x["family"], x["address"], x["port"], x["protocol"], x["proxy_protocol"] or "-",
            x["target"], x["workload"], x["endpoint"], ",".join(x["instances"]) or "none serving"]


def exposed_lines(r: dict[str, Any]) -> list[str]:
    """`plat exposed`: everything in the org reachable from outside, one row per listener."""
    rows = [exposed_row(x) for x in r["exposed"]]
    if not rows:
        return [f"nothing in org {r['org']} is exposed"]
    return table(rows, EXPOSED_HEADERS)
