"""``kotdevice kiosk``: the gym-floor display server (see docs/kiosk.md)."""
from __future__ import annotations


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
    server = KioskServer(args.broker, prefix=args.prefix, bind=args.bind, http_port=args.http_port,
                         db_path=args.db,
                         hide_offline_after_s=args.hide_offline_after * 60 or None)
    server.start()
    # systemd stops services with SIGTERM: leave as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: server._stop.set())
    print(f"kiosk: serving {server.url} (on {args.bind}:{server.http_port}); "
          f"broker {server.broker_host}:{server.broker_port}, prefix {server.prefix!r}; "
          f"history in {server.store.path}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
