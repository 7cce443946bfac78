"""/v1 through the real `openai` client against the real API and sample worker: a tiny char
model trained by the train worker, then completions, streams, n > 1, stop, seeds, logprobs,
concurrent requests batched, a bad model and a missing token."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from studio_stack import TOKEN

pytestmark = pytest.mark.on_backend("postgresql")  # a feature: one backend serves it

SHAKESPEARE = Path(__file__).resolve().parents[2] / "app" / "sample_data" / "tinyshakespeare.txt"
TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16, "batch_size": 4,
        "max_iters": 30, "lr_decay_iters": 30, "warmup_iters": 2, "eval_interval": 30,
        "eval_iters": 2, "log_interval": 10, "device": "cpu", "compile": False,
        "gradient_accumulation_steps": 1}  # fmt: skip


@pytest.fixture(scope="module")
def model(stack) -> str:
    """A trained char model's id (run-N): its latest checkpoint."""
    with stack.client() as api:
        text = SHAKESPEARE.read_bytes()[:20_000]
        dataset = api.post("/datasets", files={"file": ("tiny.txt", text, "text/plain")}).json()
        body = {"dataset_id": dataset["id"], "tokenizer": "char", "config": TINY}
        run = api.post("/runs", json=body).json()
        deadline = time.monotonic() + 180
        while run["state"] not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(0.3)
            run = api.get(f"/runs/{run['id']}").json()
        assert run["state"] == "succeeded", run
        return f"run-{run['id']}"


@pytest.fixture
def client(stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url + "/v1", api_key=TOKEN, max_retries=0, timeout=120)


def test_models_lists_the_run(client, model) -> None:
    ids = [m.id for m in client.models.list()]
    assert model in ids and f"{model}@latest" in ids


def test_a_completion_with_usage_and_a_seed_made_again(client, model) -> None:
    ask = {"model": model, "prompt": "ROMEO:", "max_tokens": 20, "seed": 7, "temperature": 1.0}
    first = client.completions.create(**ask)
    assert first.object == "text_completion" and first.model == model
    [choice] = first.choices
    assert choice.index == 0 and choice.finish_reason in ("length", "stop") and choice.text
    assert first.usage.prompt_tokens == len("ROMEO:")
    assert first.usage.completion_tokens <= 20
    if choice.finish_reason == "length":
        assert first.usage.completion_tokens == 20
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert client.completions.create(**ask).choices[0].text == choice.text


def test_n_choices_are_each_the_single_choice_of_seed_plus_index(client, model) -> None:
    many = client.completions.create(model=model, prompt="To be", max_tokens=15, n=3, seed=40)
    assert [c.index for c in many.choices] == [0, 1, 2]
    for index, choice in enumerate(many.choices):
        one = client.completions.create(model=model, prompt="To be", max_tokens=15, seed=40 + index)
        assert one.choices[0].text == choice.text
    assert len({c.text for c in many.choices}) > 1


def test_a_list_of_prompts_numbers_choices_by_prompt(client, model) -> None:
    made = client.completions.create(model=model, prompt=["a", "the"], max_tokens=5, n=2, echo=True)
    assert [
        c.text[: len(p)] for c, p in zip(made.choices, ["a", "a", "the", "the"], strict=True)
    ] == [
        "a",
        "a",
        "the",
        "the",
    ]
    assert made.usage.prompt_tokens == 1 + 3


def test_a_stream_is_the_completion_in_chunks(client, model) -> None:
    ask = {"model": model, "prompt": "ROMEO:", "max_tokens": 25, "seed": 3}
    whole = client.completions.create(**ask).choices[0]
    chunks = list(
        client.completions.create(**ask, stream=True, stream_options={"include_usage": True})
    )
    pieces = [c.choices[0] for c in chunks if c.choices]
    assert len(pieces) > 1 and "".join(p.text for p in pieces) == whole.text
    assert pieces[-1].finish_reason == whole.finish_reason
    assert all(p.finish_reason is None for p in pieces[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == len("ROMEO:")


def test_stop_ends_the_text_before_the_stop_string(client, model) -> None:
    greedy = {"model": model, "prompt": "The ", "max_tokens": 30, "temperature": 0}
    text = client.completions.create(**greedy).choices[0].text
    stop = text[4:6]
    stopped = client.completions.create(**greedy, stop=[stop, "zzzz"]).choices[0]
    assert stopped.text == text[: text.index(stop)] and stopped.finish_reason == "stop"
    streamed = client.completions.create(**greedy, stop=stop, stream=True)
    assert "".join(c.choices[0].text for c in streamed) == stopped.text


def test_logprobs_and_echo(client, model) -> None:
    made = client.completions.create(
        model=model, prompt="He", max_tokens=5, temperature=0, logprobs=2, echo=True
    )
    choice = made.choices[0]
    logprobs = choice.logprobs
    assert choice.text.startswith("He") and "".join(logprobs.tokens) == choice.text
    assert logprobs.tokens[:2] == ["H", "e"] and logprobs.token_logprobs[0] is None
    assert all(len(top) <= 2 for top in logprobs.top_logprobs[1:])
    assert all(lp <= 0 for lp in logprobs.token_logprobs[1:])


def test_concurrent_requests_are_batched_and_each_is_what_it_is_alone(client, model) -> None:
    """Clients' requests waiting for one model share its forward passes (the header says
    with how many), each with its own prompt, seed and length, and each gets the text it gets
    alone."""
    prompts = ["O", "To", "Th", "We", "All"]

    def ask(seed: int) -> tuple[str, int]:
        raw = client.completions.with_raw_response.create(
            model=model, prompt=prompts[seed % 5], max_tokens=8 + seed % 5, seed=seed
        )
        return raw.parse().choices[0].text, int(raw.headers["x-studio-batch-requests"])

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(16)))
    assert all(text for text, _ in answers)
    assert max(together for _, together in answers) > 1, answers
    alone = [ask(seed) for seed in range(16)]
    assert [text for text, _ in answers] == [text for text, _ in alone]
    assert {together for _, together in alone} == {1}


def test_a_bad_model_names_the_models_there_are(client, model) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi")
    error = caught.value.body
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert model in error["message"]


def test_a_prompt_the_tokenizer_cannot_read_is_a_4xx(client, model) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.completions.create(model=model, prompt="price: 5€", stream=True)
    assert "€" in caught.value.body["message"] and caught.value.body["param"] == "prompt"


def test_a_missing_or_wrong_token_is_refused(stack, model) -> None:
    wrong = openai.OpenAI(base_url=stack.url + "/v1", api_key="not-the-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.completions.create(model=model, prompt="hi")
    assert caught.value.body["type"] == "authentication_error"
    # the client will not send an empty key: without one, as curl would
    missing = httpx.post(stack.url + "/v1/completions", json={"model": model}, timeout=30)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["type"] == "authentication_error"
