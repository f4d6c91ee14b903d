"""``rnnkit serve`` as a user runs it: a real uvicorn process on a loopback port and a real HTTP
client. Interleaved sessions batched together give what each gives alone; a SIGTERM lets the
steps in flight finish; sessions kept in Redis outlive both a killed Redis and a restarted server."""

from __future__ import annotations

import asyncio
import re
import signal

import pytest

httpx = pytest.importorskip("httpx")

from rnnkit.tasks import language


def expected_texts(run_dir, seed, steps):
    model, vocab = language.load_generator(run_dir)
    stream = language.TextStream(seed)
    return [language.advance_many(model, vocab, [stream], [language.Advance(text, n)])[0] for text, n in steps]


STEPS = [("the ", 5), ("", 7), (" cat", 3)]
STOPPED = (0, -signal.SIGTERM)  # uvicorn shuts down gracefully, then raises the signal it caught again


def test_interleaved_sessions_batched_together_give_what_each_gives_alone(trained, serve_process):
    run_dir = trained("language")
    server = serve_process(run_dir, "--max-batch", "64", "--max-wait-ms", "20")

    async def session(client, seed):
        sid = (await client.post("/sessions", json={"seed": seed})).json()["session"]
        texts = []
        for text, n in STEPS:
            response = await client.post(f"/sessions/{sid}/step", json={"text": text, "generate": n})
            assert response.status_code == 200, response.text
            texts.append(response.json()["text"])
        return texts

    async def main():
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            return await asyncio.gather(*(session(client, seed) for seed in range(8)))

    got = asyncio.run(main())
    for seed, texts in enumerate(got):
        assert texts == expected_texts(run_dir, seed, STEPS), f"session {seed}"
    metrics = httpx.get(server.url + "/metrics").text
    count = float(re.search(r"^rnnkit_batch_size_count (\S+)", metrics, re.M).group(1))
    total = float(re.search(r"^rnnkit_batch_size_sum (\S+)", metrics, re.M).group(1))
    assert total == 8 * len(STEPS) and count < total  # some steps shared a forward pass
    assert server.stop() in STOPPED


def test_sigterm_drains_the_steps_in_flight(trained, serve_process):
    server = serve_process(trained("language"))

    async def main():
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            sids = [(await client.post("/sessions", json={"seed": s})).json()["session"] for s in range(4)]
            steps = [asyncio.create_task(client.post(f"/sessions/{sid}/step", json={"text": "the ", "generate": 10_000}))
                     for sid in sids]
            await asyncio.sleep(0.5)  # the steps are in the server
            server.process.send_signal(signal.SIGTERM)
            return await asyncio.gather(*steps)

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 4
    assert all(r.json()["sampled"] == 10_000 for r in responses)
    assert server.process.wait(60) in STOPPED
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/health", timeout=2)


def test_sessions_in_redis_outlive_a_killed_redis_and_a_restarted_server(trained, serve_process, redis_server):
    run_dir = trained("language")
    args = ("--sessions", redis_server.url)
    server = serve_process(run_dir, *args)
    sid = httpx.post(server.url + "/sessions", json={"seed": 11}).json()["session"]
    step = lambda url, text, n: httpx.post(f"{url}/sessions/{sid}/step", json={"text": text, "generate": n},  # noqa: E731
                                           timeout=30)
    got = [step(server.url, *STEPS[0]).json()["text"]]
    redis_server.kill()
    down = step(server.url, *STEPS[1])
    assert down.status_code == 503 and "unreachable" in down.json()["detail"]
    assert httpx.get(server.url + "/health").status_code == 503
    redis_server.start()  # its append-only file brings the session back
    got.append(step(server.url, *STEPS[1]).json()["text"])
    assert server.stop() in STOPPED
    again = serve_process(run_dir, *args)  # a new server (another replica) continues the session
    got.append(step(again.url, *STEPS[2]).json()["text"])
    assert got == expected_texts(run_dir, 11, STEPS)
    assert httpx.get(again.url + f"/sessions/{sid}").json()["state"]["sampled"] == 15
    assert httpx.get(again.url + "/health").json()["status"] == "ok"
