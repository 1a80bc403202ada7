"""Boundary updates per second that the playground page shows in a real
browser while a 6x8 network trains on 500 points (the issue's figure).

    python benchmarks/playground_fps.py [--seconds 10] [--epochs-per-frame 1]

Starts the server in this process, opens the page in headless chromium
(/usr/bin/chromium, through playwright), presses Play and counts the frames
the page drew (each: the 100x100 boundary, 48 neuron maps, the weights and
the loss curves) over the given time, and the epochs trained meanwhile.
"""
import argparse
import threading
import time

from playwright.sync_api import sync_playwright

from fastmlp.playground import make_server

SETUP = ("#n_points=500&hidden=8,8,8,8,8,8&activation=tanh,tanh,tanh,tanh,tanh,tanh"
         "&dropout=0,0,0,0,0,0&batch_norm=0,0,0,0,0,0")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--epochs-per-frame", type=int, default=1)
    args = parser.parse_args()
    server = make_server(port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(server.url + SETUP + f"&epochs_per_frame={args.epochs_per_frame}")
        page.wait_for_function("window.fastmlpPlayground.session !== null")
        page.get_by_role("button", name="Play").click()
        page.get_by_role("button", name="Pause").wait_for()
        time.sleep(1.0)  # warm up
        count = "window.fastmlpPlayground.framesRendered"
        epoch = "window.fastmlpPlayground.frame.epoch"
        frames0, epoch0, t0 = page.evaluate(count), page.evaluate(epoch), time.monotonic()
        time.sleep(args.seconds)
        frames1, epoch1, t1 = page.evaluate(count), page.evaluate(epoch), time.monotonic()
        browser.close()
    server.shutdown()
    print(f"{(frames1 - frames0) / (t1 - t0):.1f} boundary updates/s drawn by the page, "
          f"{(epoch1 - epoch0) / (t1 - t0):.1f} epochs/s, over {t1 - t0:.1f} s "
          f"(6x8 tanh network, 500 points, {args.epochs_per_frame} epoch(s) per frame)")


if __name__ == "__main__":
    main()
