"""python -m fastmlp.playground [--port N] [--host HOST] [--no-browser]"""

import argparse
import signal
import sys
import threading
import webbrowser

from fastmlp.playground._server import is_loopback, make_server

DEFAULT_PORT = 8765


def _stop(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m fastmlp.playground",
        description="Train fastmlp networks in your browser, like the TensorFlow Playground.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"the port to listen on (default {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default 127.0.0.1, this computer only)")
    parser.add_argument("--no-browser", action="store_true",
                        help="do not open the page in a browser")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be from 0 to 65535; got {args.port}")
    try:
        server = make_server(args.host, args.port)
    except OSError as exc:
        print(f"fastmlp playground: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _stop)  # as Ctrl-C does
    try:
        if not is_loopback(args.host):
            print(f"warning: listening on {args.host}: the playground is reachable from the "
                  "network, by anyone who can reach this computer", file=sys.stderr)
        print(f"fastmlp playground: {server.url}", flush=True)
        if not args.no_browser:
            threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stopping.set()
        server.playground.close_all()
        server.server_close()
    print("fastmlp playground: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
