"""OpenAIEngine against a FAKE OpenAI-compatible HTTP server (no model): model naming, continuation detection,
client-side rendering for /v1/completions, servers that ignore ``n`` or return stop strings, one-line failures.

The fake (:class:`FakeOpenAIServer`) is a real HTTP server on 127.0.0.1 whose behaviour is configured per test to
mimic the servers met in the field: vLLM (honours ``continue_final_message``), ``transformers serve`` (HTTP 422 on
unknown fields, ignores ``n``, returns the stop string, /v1/models 500 without a hub cache), servers that accept the
fields and silently start a fresh reply, servers that drop the final assistant message. It counts prompt tokens with
a tiny real tokenizer (``tokenizers`` WordLevel + a ChatML template, built in a temp folder), the way real servers
fill ``usage.prompt_tokens``. The real servers are exercised in tests/test_engines.py (slow).
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from critic.engines import EngineError, Sampling, get_engine
from critic.engines._continuation import judge_chat_extension, render_continuation
from critic.engines.openai_engine import OpenAIEngine

CHATML = ("{{ bos_token or '' }}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# Another model's template (Llama-3 style headers), used with another model's tokenizer.
OTHER_TEMPLATE = ("{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}"
                  "<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>"
                  "\n\n{% endif %}")
STANDARD_FIELDS = {"model", "messages", "prompt", "max_tokens", "temperature", "top_p", "n", "seed", "stop", "stream"}
SOLVE_CHAT = [{"role": "system", "content": "You solve problems."}, {"role": "user", "content": "What is 2 + 2?"},
              {"role": "assistant", "content": "Step 1: 2 + 2 = 4.\n\nStep 2:"}]
CRITIC_CHAT = [{"role": "user", "content": "Check this solution."}]


def make_tokenizer(folder: Path, *, template: str = CHATML, adds_bos: bool = False,
                   split_punctuation: bool = True) -> str:
    """A tiny real tokenizer (every word and punctuation run is one token, unknown words map to [UNK]) saved to
    ``folder``. ``split_punctuation=False`` makes another model's tokenizer: "times." is then one token, not two."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<|im_start|>", "<|im_end|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    vocab = {w: i for i, w in enumerate(["[UNK]", "<s>", *specials, "user", "assistant", "system", "apple"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace() if split_punctuation else pre_tokenizers.WhitespaceSplit()
    if adds_bos:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", vocab["<s>"])])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>" if adds_bos else None, eos_token="<|im_end|>",
                                   unk_token="[UNK]", additional_special_tokens=specials, chat_template=template)
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(folder)
    return str(folder)


@dataclass
class Behaviour:
    chat_extension: str = "honour"  # honour | reject (422, like transformers serve) | ignore | close | drop
    completions: bool = True  # False: /v1/completions answers 404
    models_status: int = 200  # GET /v1/models status (transformers serve: 500 without a hub cache)
    models_text: str | None = None  # GET /v1/models body sent as is (a proxy's HTML page), instead of the list
    usage: bool = True  # report usage.prompt_tokens / completion_tokens
    honours_n: bool = True  # False: one choice whatever n is (transformers serve)
    stop_in_text: bool = False  # True: the text keeps the stop string (transformers serve)
    status: int = 200  # answer every POST with this status (e.g. 401)
    reply: str = " the reply"


@dataclass
class FakeOpenAIServer:
    """A FAKE OpenAI-compatible server (no model) on 127.0.0.1; ``requests`` records (path, body) in order."""

    tokenizer: Any
    behaviour: Behaviour = field(default_factory=Behaviour)
    requests: list[tuple[str, dict]] = field(default_factory=list)
    url: str = ""

    def posts(self, path: str) -> list[dict]:
        return [body for p, body in self.requests if p == path]

    def prompt_tokens_for_chat(self, body: dict) -> int:
        chat, mode = list(body["messages"]), self.behaviour.chat_extension
        continuing = chat[-1]["role"] == "assistant"
        kwargs: dict[str, Any] = {"add_generation_prompt": True}
        if continuing and mode == "honour" and body.get("continue_final_message"):
            kwargs = {"add_generation_prompt": False, "continue_final_message": True}
        elif continuing and mode == "close":
            kwargs = {"add_generation_prompt": body.get("add_generation_prompt", True)}
        elif continuing and mode == "drop":
            chat = chat[:-1]
        text = self.tokenizer.apply_chat_template(chat, tokenize=False, **kwargs)
        return len(self.tokenizer(text).input_ids)

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        b = self.behaviour
        if b.status != 200:
            return b.status, {"error": {"message": f"fake status {b.status}"}}
        unexpected = set(body) - STANDARD_FIELDS
        if b.chat_extension == "reject" and unexpected:
            return 422, {"detail": f"Unexpected fields in the request: {sorted(unexpected)}"}
        if path == "/v1/chat/completions":
            prompt_tokens = self.prompt_tokens_for_chat(body)
        elif path == "/v1/completions" and b.completions:
            prompt_tokens = len(self.tokenizer(body["prompt"]).input_ids)
        else:
            return 404, {"detail": "Not Found"}
        n = body.get("n", 1) if b.honours_n else 1
        text = b.reply + (" STOP after" if b.stop_in_text and body.get("stop") else "")
        key = "message" if path.endswith("chat/completions") else "text"
        choices = [{"index": i, "finish_reason": "stop",
                    key: {"role": "assistant", "content": text} if key == "message" else text} for i in range(n)]
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 3 * n} if b.usage else None
        return 200, {"choices": choices, **({"usage": usage} if usage else {})}

    def handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, payload: Any, raw: bool = False) -> None:
                data = (payload if raw else json.dumps(payload)).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                server.requests.append((self.path, {}))
                if self.path != "/v1/models":
                    return self._send(404, {"detail": "Not Found"})
                if server.behaviour.models_status != 200:
                    return self._send(server.behaviour.models_status, "Internal Server Error")
                if server.behaviour.models_text is not None:
                    return self._send(200, server.behaviour.models_text, raw=True)
                return self._send(200, {"data": [{"id": "served-model"}, {"id": "other"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                server.requests.append((self.path, body))
                self._send(*server.answer(self.path, body))

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture
def tokenizer_dir(tmp_path):
    return make_tokenizer(tmp_path / "tok")


@pytest.fixture
def fake_server(tokenizer_dir):
    from transformers import AutoTokenizer

    fake = FakeOpenAIServer(AutoTokenizer.from_pretrained(tokenizer_dir))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield fake
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def make_engine(fake_server):
    engines: list[OpenAIEngine] = []

    def build(model: str | None = "served-model", **options: Any) -> OpenAIEngine:
        options = {"max_retries": 1, "backoff_s": 0.01, **options}
        engine = OpenAIEngine(fake_server.url, model, **options)
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.close()


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message.strip()
    return message


# ---- the model name ------------------------------------------------------------------------------------------------


def test_named_model_never_lists_models(fake_server, make_engine):
    fake_server.behaviour.models_status = 500  # transformers serve on a machine without a hub cache
    engine = make_engine("my-model")
    out = engine.generate([CRITIC_CHAT], Sampling(max_tokens=8))[0][0]
    assert out == " the reply"
    assert [path for path, _ in fake_server.requests] == ["/v1/chat/completions"]
    assert fake_server.posts("/v1/chat/completions")[0]["model"] == "my-model"


def test_unnamed_model_is_the_first_listed(make_engine):
    assert make_engine(None).model == "served-model"


@pytest.mark.parametrize("status", [500, 404])
def test_failing_model_list_is_one_line_saying_to_name_one(fake_server, make_engine, status):
    fake_server.behaviour.models_status = status
    with pytest.raises(EngineError) as info:
        make_engine(None)
    message = one_line(info)
    assert f"HTTP {status}" in message and "name the model" in message and "#<model>" in message
    assert "is the server running" not in message


def test_model_list_answered_with_no_json_says_to_name_one(fake_server, make_engine):
    fake_server.behaviour.models_text = "<html>proxy page</html>"
    with pytest.raises(EngineError) as info:
        make_engine(None)
    message = one_line(info)
    assert "not JSON" in message and "name the model" in message and "is the server running" not in message


@pytest.mark.parametrize("path", ["/v1", "/v1/", ""])
def test_model_list_of_a_server_that_is_not_there_says_so_without_the_naming_hint(path):
    with socket.socket() as sock:  # bound then released: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(EngineError) as info:
        OpenAIEngine(f"http://127.0.0.1:{port}{path}", None, max_retries=1, backoff_s=0.01)
    message = one_line(info)
    assert f"cannot reach http://127.0.0.1:{port}" in message and "is the server running" in message
    assert "name the model" not in message and "#<model>" not in message


# ---- the detection rule (pure) -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "trusted", "says"),
    [
        ((35, 39, 43), True, "continues"),  # SmolLM2/ChatML measured: +4 and +8 tokens, nothing added
        ((35, 45, 49), False, "fresh reply"),  # fields ignored: end of turn + new assistant header (+6)
        ((35, 41, 45), False, "fresh reply"),  # add_generation_prompt honoured, message still closed (+2)
        ((35, 35, 35), False, "dropped"),  # final assistant message dropped
        ((35, 34, 33), False, "dropped"),
        ((35, None, 43), False, "usage"),
        ((None, 39, 43), False, "usage"),
    ],
)
def test_judge_chat_extension(counts, trusted, says):
    ok, reason = judge_chat_extension(*counts)
    assert ok is trusted and says in reason


# ---- detection against the fake -------------------------------------------------------------------------------------


def test_vllm_like_server_uses_the_chat_extension_detected_once(fake_server, make_engine):
    engine = make_engine()
    results = engine.generate([SOLVE_CHAT] * 8, Sampling(max_tokens=8))
    assert [r[0] for r in results] == [" the reply"] * 8
    assert engine.continuation_mode == "chat-extension"
    chats = fake_server.posts("/v1/chat/completions")
    probes = [b for b in chats if b["max_tokens"] == 1]
    assert len(probes) == 3  # one detection for eight concurrent first continuations
    real = [b for b in chats if b["max_tokens"] == 8]
    assert len(real) == 8 and all(b["continue_final_message"] and b["add_generation_prompt"] is False for b in real)
    assert all(b["messages"] == SOLVE_CHAT for b in real)
    assert not fake_server.posts("/v1/completions")


def test_plain_chats_never_probe(fake_server, make_engine):
    engine = make_engine()
    engine.generate([CRITIC_CHAT, CRITIC_CHAT], Sampling(max_tokens=8))
    assert engine.continuation_mode is None
    assert all("continue_final_message" not in b for b in fake_server.posts("/v1/chat/completions"))


@pytest.mark.parametrize("chat_extension", ["reject", "ignore", "close", "drop"])
def test_server_that_does_not_continue_gets_a_rendered_prompt_on_completions(
    fake_server, make_engine, tokenizer_dir, chat_extension
):
    fake_server.behaviour.chat_extension = chat_extension
    engine = make_engine(tokenizer=tokenizer_dir)
    out = engine.generate([SOLVE_CHAT], Sampling(max_tokens=8))[0][0]
    assert out == " the reply" and engine.continuation_mode == "completions"
    expected = ("<|im_start|>system\nYou solve problems.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n"
                "<|im_start|>assistant\nStep 1: 2 + 2 = 4.\n\nStep 2:")  # open: no end of turn, no new header
    completions = [b for b in fake_server.posts("/v1/completions") if b["max_tokens"] == 8]
    assert [b["prompt"] for b in completions] == [expected]
    # no real continuation was ever sent as a chat (the server would have started a fresh reply)
    assert all(b["max_tokens"] == 1 for b in fake_server.posts("/v1/chat/completions"))
    # plain chats still go to the chat endpoint
    engine.generate([CRITIC_CHAT], Sampling(max_tokens=8))
    assert fake_server.posts("/v1/chat/completions")[-1]["messages"] == CRITIC_CHAT


def test_server_without_usage_is_not_trusted(fake_server, make_engine, tokenizer_dir):
    fake_server.behaviour.usage = False
    engine = make_engine(tokenizer=tokenizer_dir)
    assert engine.detect_continuation() == "completions"
    assert "usage.prompt_tokens" in engine.continuation_reason


def test_tokenizer_defaults_to_the_model_name(fake_server, make_engine, tokenizer_dir):
    fake_server.behaviour.chat_extension = "reject"  # transformers serve: the model name is the folder
    engine = make_engine(tokenizer_dir)
    assert engine.detect_continuation() == "completions"
    assert fake_server.posts("/v1/completions")[0]["model"] == tokenizer_dir


def test_no_way_to_continue_fails_at_the_first_continuation_in_one_line(fake_server, make_engine):
    fake_server.behaviour.chat_extension = "ignore"  # answers 200 but would start a fresh reply
    engine = make_engine("served-model")  # not a folder or hub id: no tokenizer
    assert engine.generate([CRITIC_CHAT], Sampling(max_tokens=8))[0][0] == " the reply"  # plain chats still work
    for _ in range(2):  # detected once; every continuation is then refused the same way
        with pytest.raises(EngineError) as info:
            engine.generate([SOLVE_CHAT], Sampling(max_tokens=8))
        message = one_line(info)
        assert "cannot continue an assistant message" in message and "fresh reply" in message
        assert "tokenizer=" in message and "'served-model'" in message
    assert engine.continuation_mode == "none"
    assert len([b for b in fake_server.posts("/v1/chat/completions") if b["max_tokens"] == 1]) == 3
    assert all(b["max_tokens"] == 1 for b in fake_server.posts("/v1/chat/completions")[1:])


def test_no_completions_endpoint_is_none_with_both_reasons(fake_server, make_engine, tokenizer_dir):
    fake_server.behaviour.chat_extension = "reject"
    fake_server.behaviour.completions = False
    engine = make_engine(tokenizer=tokenizer_dir)
    with pytest.raises(EngineError) as info:
        engine.generate([SOLVE_CHAT], Sampling(max_tokens=8))
    message = one_line(info)
    assert "HTTP 422" in message and "Unexpected fields" in message and "HTTP 404" in message
    assert engine.continuation_mode == "none"


def test_wrong_tokenizer_is_caught_by_the_token_count(fake_server, make_engine, tmp_path):
    fake_server.behaviour.chat_extension = "reject"
    other = make_tokenizer(tmp_path / "other", template=OTHER_TEMPLATE, split_punctuation=False)
    engine = make_engine(tokenizer=other)
    with pytest.raises(EngineError) as info:
        engine.generate([SOLVE_CHAT], Sampling(max_tokens=8))
    assert "not the served model's tokenizer" in one_line(info)


def test_missing_tokenizer_folder_is_named(fake_server, make_engine, tmp_path):
    fake_server.behaviour.chat_extension = "reject"
    engine = make_engine(tokenizer=str(tmp_path / "no" / "such" / "tokenizer"))
    with pytest.raises(EngineError) as info:
        engine.generate([SOLVE_CHAT], Sampling(max_tokens=8))
    assert "tokenizer folder not found" in one_line(info)


@pytest.mark.parametrize("forced", ["chat-extension", "completions"])
def test_forced_mode_skips_the_probes(fake_server, make_engine, tokenizer_dir, forced):
    engine = make_engine(tokenizer=tokenizer_dir, continuation=forced)
    engine.generate([SOLVE_CHAT], Sampling(max_tokens=8))
    assert engine.continuation_mode == forced
    assert not [b for _, b in fake_server.requests if b.get("max_tokens") == 1]
    path = "/v1/chat/completions" if forced == "chat-extension" else "/v1/completions"
    assert [p for p, _ in fake_server.requests] == [path]


def test_bad_continuation_option_is_one_line(fake_server):
    with pytest.raises(EngineError) as info:
        OpenAIEngine(fake_server.url, "m", continuation="prefill")
    assert "continuation must be one of" in one_line(info)


def test_auth_failure_in_the_probe_is_not_taken_for_a_missing_feature(fake_server, make_engine):
    fake_server.behaviour.status = 401
    engine = make_engine()
    with pytest.raises(EngineError) as info:
        engine.generate([SOLVE_CHAT], Sampling(max_tokens=8))
    assert "HTTP 401" in one_line(info)
    assert engine.continuation_mode is None  # nothing was decided; a later call probes again


def test_bos_is_not_doubled(tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(make_tokenizer(tmp_path / "bos", adds_bos=True))
    rendered = render_continuation(tokenizer, SOLVE_CHAT)
    assert tokenizer.apply_chat_template(SOLVE_CHAT, tokenize=False, continue_final_message=True).startswith("<s>")
    assert rendered.startswith("<|im_start|>system") and rendered.endswith("Step 2:")
    assert tokenizer(rendered).input_ids.count(tokenizer.bos_token_id) == 1


def test_bos_tokenizer_passes_the_count_check(fake_server, make_engine, tmp_path):
    from transformers import AutoTokenizer

    folder = make_tokenizer(tmp_path / "bos", adds_bos=True)
    fake_server.tokenizer = AutoTokenizer.from_pretrained(folder)
    fake_server.behaviour.chat_extension = "reject"
    engine = make_engine(tokenizer=folder)
    assert engine.detect_continuation() == "completions", engine.continuation_reason
    assert not fake_server.posts("/v1/completions")[0]["prompt"].startswith("<s>")


# ---- sampling quirks ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("honours_n", [True, False])
def test_n_samples_whether_or_not_the_server_honours_n(fake_server, make_engine, honours_n):
    fake_server.behaviour.honours_n = honours_n
    engine = make_engine()
    sampled = Sampling(n=3, temperature=1.0, max_tokens=8, seed=5)
    for _ in range(2):
        out = engine.generate([CRITIC_CHAT], sampled)[0]
        assert len(out) == 3 and all(g == " the reply" and g.num_tokens == 3 for g in out)
    bodies = fake_server.posts("/v1/chat/completions")
    if honours_n:
        assert [b["n"] for b in bodies] == [3, 3]
    else:
        # first call: n=3 answered with one choice, then two single requests; second call fans out at once
        assert [b.get("n") for b in bodies] == [3, None, None, None, None, None]
        assert sorted(b["seed"] for b in bodies[1:3]) == [6, 7] and sorted(b["seed"] for b in bodies[3:]) == [5, 6, 7]


def test_greedy_decodes_once(fake_server, make_engine):
    out = make_engine().generate([CRITIC_CHAT], Sampling(n=4, max_tokens=8))[0]
    assert len(out) == 4 and len(set(out)) == 1
    assert len(fake_server.posts("/v1/chat/completions")) == 1 and "n" not in fake_server.posts(
        "/v1/chat/completions")[0]


def test_stop_string_returned_by_the_server_is_cut(fake_server, make_engine):
    fake_server.behaviour.stop_in_text = True
    out = make_engine().generate([CRITIC_CHAT], Sampling(max_tokens=8, stop=["STOP"]))[0][0]
    assert out == " the reply " and out.finish_reason == "stop"


def test_fastapi_error_detail_is_the_message(fake_server, make_engine):
    fake_server.behaviour.chat_extension = "reject"
    engine = make_engine(continuation="chat-extension")  # forced onto a server that rejects the fields
    # A 4xx refuses this request only: an error generation naming the cause (a long job writes it as an error row).
    refused = engine.generate([SOLVE_CHAT], Sampling(max_tokens=8))[0][0]
    message = refused.error
    assert refused.finish_reason == "error" and "\n" not in message
    assert "HTTP 422: Unexpected fields in the request" in message and "{'detail'" not in message


@pytest.mark.parametrize("options, sampling, field", [
    ({}, Sampling(max_tokens=8, guided_regex="(a|b)+"), "structured_outputs"),
    ({"extra_body": {"top_k": 5}}, Sampling(max_tokens=8), "top_k"),
    ({"extra_body": {"generation_config": "{}"}}, Sampling(max_tokens=8, guided_regex="a+"), "generation_config"),
])
def test_refusing_a_field_sent_with_every_request_stops_the_engine(fake_server, make_engine, options, sampling, field):
    """A server that rejects a field this engine adds to every request (transformers serve: HTTP 422 on
    ``structured_outputs``) would refuse every row alike: one EngineDead line naming the field, not N error rows."""
    from critic.engines.base import EngineDead

    fake_server.behaviour.chat_extension = "reject"
    with pytest.raises(EngineDead) as info:
        make_engine(**options).generate([CRITIC_CHAT], sampling)
    message = one_line(info)
    assert "HTTP 422" in message and repr(field) in message


def test_a_field_the_server_accepts_is_not_blamed_for_another_refusal(fake_server, make_engine):
    fake_server.behaviour.status = 400  # refuses the request for its own reason (e.g. too long for the context)
    out = make_engine(extra_body={"top_k": 5}).generate([CRITIC_CHAT], Sampling(max_tokens=8, guided_regex="a+"))
    assert out[0][0].finish_reason == "error" and "HTTP 400" in out[0][0].error


# ---- the mode reaches the loop's result ------------------------------------------------------------------------------


def test_solve_result_records_the_continuation_mode(fake_server, make_engine, tokenizer_dir):
    from agent import solve_with_critic

    fake_server.behaviour.chat_extension = "reject"
    engine = make_engine(tokenizer=tokenizer_dir)
    result = solve_with_critic("What is 2 + 2?", generator=engine, critic=engine, max_rounds=1,
                               sampling=Sampling(max_tokens=8))
    assert result.continuation == "completions"
    assert result.trace[0].steps  # the generator's reply became the solution (control flow only: a fake server)


def test_get_engine_passes_the_new_options(fake_server, tokenizer_dir):
    engine = get_engine(f"openai:{fake_server.url}#served-model", tokenizer=tokenizer_dir, continuation="completions")
    try:
        assert engine.tokenizer_source == tokenizer_dir and engine.continuation == "completions"
    finally:
        from critic.engines import close_engines

        close_engines()


def test_extra_body_reaches_every_post_but_never_overrides_the_engine(fake_server, make_engine):
    engine = make_engine(extra_body={"generation_config": '{"do_sample": true}', "max_tokens": 999, "top_k": 5})
    engine.generate([CRITIC_CHAT, SOLVE_CHAT], Sampling(max_tokens=8))
    posts = [body for path, body in fake_server.requests if path != "/v1/models"]
    assert len(posts) == 5  # two generations and three probes
    assert all(b["generation_config"] == '{"do_sample": true}' and b["top_k"] == 5 for b in posts)
    assert sorted(b["max_tokens"] for b in posts) == [1, 1, 1, 8, 8]


def test_uncached_hub_tokenizer_offline_is_one_line(monkeypatch):
    from critic.engines._continuation import load_tokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineError) as info:
        load_tokenizer("no-such-org/no-such-tokenizer-xyz")
    message = one_line(info)
    assert "no-such-org/no-such-tokenizer-xyz" in message and "HF_HUB_OFFLINE" in message


def test_tokenizer_without_chat_template_is_refused(tmp_path):
    from critic.engines._continuation import load_tokenizer

    folder = make_tokenizer(tmp_path / "plain")
    config = Path(folder) / "tokenizer_config.json"
    data = json.loads(config.read_text())
    data.pop("chat_template", None)
    config.write_text(json.dumps(data))
    for extra in Path(folder).glob("chat_template.*"):
        extra.unlink()
    with pytest.raises(EngineError) as info:
        load_tokenizer(folder)
    assert "no chat template" in one_line(info)
