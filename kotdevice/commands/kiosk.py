"""``kotdevice kiosk``: the gym-floor display server (see docs/kiosk.md)."""
from __future__ import annotations


SERVING = "kiosk: serving "  # the stderr line that says where the page is


def served_url(stderr, max_lines: int = 20) -> str | None:
    """The page URL from a running ``kotdevice kiosk``'s stderr (a text stream), read up to
    its "serving" line; None if it did not come within ``max_lines`` (the broker may be
    greeted in the log first)."""
    for _ in range(max_lines):
        line = stderr.readline()
        if line.startswith(SERVING):
            return line[len(SERVING):].split()[0]
    return None


def register(sub) -> None:
    p = sub.add_parser("kiosk", help="serve the gym kiosk page (subscribes to the devices over MQTT)",
                       description="Serve the gym kiosk page on the local network. Point Chromium "
                                   "(kiosk mode) at the printed URL.")
    p.add_argument("--broker", required=True, metavar="HOST:PORT", help="MQTT broker (port defaults to 1883)")
    p.add_argument("--http-port", type=int, default=8080, metavar="N", help="HTTP port (default 8080; 0 = any free)")
    p.add_argument("--prefix", default="kot", help="MQTT topic prefix (default kot)")
    p.add_argument("--bind", default="0.0.0.0", metavar="ADDR",
                   help="address to serve on (default 0.0.0.0: the whole local network)")
    p.add_argument("--db", metavar="PATH",
                   help="SQLite file for session history (default ~/.local/share/kotdevice/kiosk.sqlite3)")
    p.add_argument("--hide-offline-after", type=float, default=120.0, metavar="MIN",
                   help="drop a tile after its device has been offline this many minutes (default 120; 0 = never)")
    p.add_argument("--username", default="", help="broker user (the gym broker's read-only 'kiosk' account)")
    p.add_argument("--password-file", metavar="PATH",
                   help="file holding the broker password (kept off the command line and out of "
                        "the environment); an empty file means none. Without it (or if empty): "
                        "$KOT_MQTT_PASSWORD if set")
    p.add_argument("--tls", action="store_true", help="connect with TLS (e.g. port 8883)")
    p.add_argument("--ca-file", default="", metavar="PATH", help="CA certificate for --tls")
    p.set_defaults(func=run)


def run(args) -> int:
    import signal
    import sys

    from kotdevice.errors import KotError
    from kotdevice.kiosk.server import KioskServer

    if not 0 <= args.http_port < 65536:
        raise KotError(f"--http-port {args.http_port}: must be from 0 to 65535")
    if args.hide_offline_after < 0:
        raise KotError("--hide-offline-after must not be negative")
    import os

    password = ""
    if args.password_file:
        try:
            with open(args.password_file, encoding="utf-8") as f:
                password = f.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else "not a UTF-8 text file"
            raise KotError(f"cannot read the broker password from --password-file {args.password_file}: "
                           f"{why}") from None
    # An empty file (the installer's default) keeps an older setup's $KOT_MQTT_PASSWORD working.
    password = password or os.environ.get("KOT_MQTT_PASSWORD", "")
    if password and not args.username:
        raise KotError("a broker password needs --username")
    server = KioskServer(args.broker, prefix=args.prefix, bind=args.bind, http_port=args.http_port,
                         db_path=args.db,
                         hide_offline_after_s=args.hide_offline_after * 60 or None,
                         username=args.username, password=password, tls=args.tls,
                         ca_file=args.ca_file)
    server.start()
    # systemd stops services with SIGTERM: leave as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: server.request_stop())
    print(f"{SERVING}{server.url} (on {args.bind}:{server.http_port}); "
          f"broker {server.broker_host}:{server.broker_port}, prefix {server.prefix!r}; "
          f"history in {server.store.path}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
