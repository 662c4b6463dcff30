"""Publisher transcripts: every format we read, how the format is chosen, and every refusal."""

from __future__ import annotations

import codecs
import hashlib
import json

import pytest

from models.errors import TranscriptFormatError
from models.transcripts import parse_transcript
from models.types import ModelRef, Transcript

VTT = """WEBVTT - Episode 42: The Deep Sea
Kind: captions
Language: en

NOTE
Produced by the show's transcription service.
Speaker names were checked by hand.

STYLE
::cue(v[voice="Jane Doe"]) { color: teal }

REGION
id:bottom
width:40%

intro-1
00:00.000 --> 00:04.250 align:start position:10%
<v Jane Doe>Welcome back to <i>Tell Me More</i>.</v>

NOTE a one-line note between cues

intro-2
00:04.250 --> 00:09.000 line:85%
<v.loud Sam Lee>Thanks, Jane &amp; hello everyone!</v>
<v Jane Doe>Today we <00:00:06.500><c.yellow>dive</c> into the <b>deep</b> sea.</v>

00:00:09.000 --> 00:00:15.500
<v Sam Lee>Roughly 80% of the ocean
has never been mapped &lt;at all&gt;.

00:15.500 --> 00:15.500
<i> </i>

01:02:03.456 --> 01:02:07.000
Plain cue without a voice.
"""

SRT = """1
00:00:01,000 --> 00:00:04,200
Jane: Welcome back to <i>Tell Me More</i>.

2
00:00:04,200 --> 00:00:08,000 X1:100 X2:600 Y1:50 Y2:80
{\\an8}Today we dive
into the deep sea.



00:00:08,500 --> 00:00:10,000
Cue without an index line.

4
00:00:10,000 --> 00:00:12,000
The answer is
42

5
00:00:13,000 --> 00:00:12,500
Ends before it starts.
"""

P20_JSON = {
    "version": "1.0.0",
    "segments": [
        {"speaker": "Jane Doe", "startTime": 0.5, "endTime": 0.9, "body": "Welcome"},
        {"speaker": "Jane Doe", "startTime": "0.9", "endTime": "1.3", "body": "back"},
        {"speaker": "Sam Lee", "startTime": 2.0, "endTime": 2.4, "body": "Thanks!"},
        {"speaker": "Jane Doe", "startTime": 1.3, "endTime": 1.6, "body": " to  the show. "},
        {"speaker": "", "startTime": 2.4, "endTime": 2.4, "body": "   "},
        {"startTime": -0.5, "endTime": 0.2, "body": "[music]"},
        {"speaker": "Sam Lee", "startTime": 3.0, "body": "Mm."},
    ],
}

PLAIN = """Jane Doe: Welcome back to Tell Me More.
Today we dive into the deep sea.
Sam Lee: Thanks, Jane.

This paragraph has no speaker label
and runs over two lines.
"""

HTML = """<!DOCTYPE html>
<html><head><title>Episode 42 transcript</title>
<style>p { margin: 0 }</style><script>var tracking = "Jane: not a line";</script></head>
<body>
  <h1>Episode 42</h1>
  <p><b>Jane Doe:</b> Welcome back to
     <i>Tell Me More</i> &amp; the deep sea.</p>
  <p><strong>Sam Lee:</strong> Thanks&nbsp;Jane.<br>Glad to be here.</p>
  <div>A closing note.</div>
</body></html>
"""


NOISE = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(64))


def _crlf_bom(text: str) -> bytes:
    return codecs.BOM_UTF8 + text.replace("\n", "\r\n").encode()


def _rows(transcript: Transcript) -> list[tuple[float, float, str, str | None]]:
    return [(s.start_s, s.end_s, s.text, s.speaker) for s in transcript.segments]


def _error(data: bytes, mime: str | None, url: str | None = None) -> TranscriptFormatError:
    with pytest.raises(TranscriptFormatError) as caught:
        parse_transcript(data, mime, url=url)
    assert str(caught.value).endswith(".")
    return caught.value


def test_webvtt_voices_tags_entities_and_blocks() -> None:
    transcript = parse_transcript(_crlf_bom(VTT), "text/vtt")
    rows = _rows(transcript)
    assert [r[2:] for r in rows] == [
        ("Welcome back to Tell Me More.", "Jane Doe"),
        ("Thanks, Jane & hello everyone!", "Sam Lee"),
        ("Today we dive into the deep sea.", "Jane Doe"),
        ("Roughly 80% of the ocean has never been mapped <at all>.", "Sam Lee"),
        ("Plain cue without a voice.", None),
    ]
    assert rows[0][:2] == (0.0, 4.25)
    # Two voices in one cue share its 4.75 s by text length, back to back.
    assert rows[1][0] == 4.25 and rows[2][1] == 9.0 and rows[1][1] == rows[2][0]
    assert 4.25 < rows[1][1] < 9.0
    assert rows[3][:2] == (9.0, 15.5)
    assert rows[4][:2] == (3723.456, 3727.0)
    assert transcript.duration_s == 3727.0
    assert transcript.language is None
    assert transcript.model == ModelRef(kind="publisher", name="publisher:vtt", version="1")


def test_webvtt_with_lf_and_no_header_text() -> None:
    data = b"WEBVTT\n\n1\n00:01.000 --> 00:02.500\nHello\nworld\n"
    assert _rows(parse_transcript(data, "text/vtt")) == [(1.0, 2.5, "Hello world", None)]


@pytest.mark.parametrize(
    "timing",
    [
        "00:00:01,0x0 --> 00:00:02.000",
        "00:01 --> 00:02",
        "00:00:61.000 --> 00:01:02.000",
        "01:75:00.000 --> 01:76:00.000",
        "00:01.000 --> later",
        "--> 00:02.000",
    ],
)
def test_webvtt_with_bad_timestamps_is_malformed(timing: str) -> None:
    data = f"WEBVTT\n\n00:00.000 --> 00:01.000\nFine.\n\n{timing}\nBroken.\n".encode()
    error = _error(data, "text/vtt")
    assert error.code == "transcript_malformed"


def test_webvtt_without_header_or_cues_is_refused() -> None:
    assert _error(b"00:00.000 --> 00:01.000\nHi\n", "text/vtt").code == "transcript_malformed"
    assert _error(b"WEBVTT\n\nJust words, no cues.\n", "text/vtt").code == "transcript_malformed"
    assert _error(b"WEBVTT\n\nNOTE nothing here\n", "text/vtt").code == "transcript_empty"


def test_srt_with_bom_crlf_missing_indexes_and_tags() -> None:
    transcript = parse_transcript(_crlf_bom(SRT), "application/x-subrip")
    assert _rows(transcript) == [
        (1.0, 4.2, "Jane: Welcome back to Tell Me More.", None),
        (4.2, 8.0, "Today we dive into the deep sea.", None),
        (8.5, 10.0, "Cue without an index line.", None),
        (10.0, 12.0, "The answer is 42", None),
        (13.0, 13.0, "Ends before it starts.", None),
    ]
    assert transcript.duration_s == 13.0
    assert transcript.model.name == "publisher:srt"


@pytest.mark.parametrize("mime", ["application/srt", "text/srt", None, "application/octet-stream"])
def test_srt_mime_types_and_sniffing(mime: str | None) -> None:
    assert parse_transcript(SRT.encode(), mime).model.name == "publisher:srt"


def test_srt_refusals() -> None:
    assert _error(b"1\nJust text.\n", "text/srt").code == "transcript_malformed"
    bad = b"1\n00:00:01,000 --> 00:00:0x,000\nHi\n"
    assert _error(bad, "application/x-subrip").code == "transcript_malformed"


def test_podcasting_json_keeps_word_segments_sorted_and_clamped() -> None:
    data = json.dumps(P20_JSON).encode()
    transcript = parse_transcript(data, "application/json")
    assert _rows(transcript) == [
        (0.0, 0.2, "[music]", None),
        (0.5, 0.9, "Welcome", "Jane Doe"),
        (0.9, 1.3, "back", "Jane Doe"),
        (1.3, 1.6, "to the show.", "Jane Doe"),
        (2.0, 2.4, "Thanks!", "Sam Lee"),
        (3.0, 3.0, "Mm.", "Sam Lee"),
    ]
    assert transcript.duration_s == 3.0
    assert transcript.model.name == "publisher:json"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"version": "1.0.0", "segments": [', "transcript_malformed"),
        (b'{"version": "1.0.0"}', "transcript_malformed"),
        (b'{"segments": {"startTime": 1}}', "transcript_malformed"),
        (b"[1, 2, 3]", "transcript_malformed"),
        (b'{"segments": ["hello"]}', "transcript_malformed"),
        (
            b'{"segments": [{"startTime": "soon", "endTime": 2, "body": "x"}]}',
            "transcript_malformed",
        ),
        (b'{"segments": [{"startTime": true, "endTime": 2, "body": "x"}]}', "transcript_malformed"),
        (
            b'{"segments": [{"startTime": "NaN", "endTime": 2, "body": "x"}]}',
            "transcript_malformed",
        ),
        (b'{"segments": [{"endTime": 2, "body": "x"}]}', "transcript_malformed"),
        (b'{"segments": [{"startTime": 0, "endTime": 2, "body": 7}]}', "transcript_malformed"),
        (b'{"segments": []}', "transcript_empty"),
    ],
)
def test_podcasting_json_refusals(body: bytes, code: str) -> None:
    assert _error(body, "application/json").code == code


def test_plain_text_has_no_timings_and_reads_speaker_labels() -> None:
    transcript = parse_transcript(PLAIN.encode(), "text/plain; charset=utf-8")
    assert _rows(transcript) == [
        (0.0, 0.0, "Welcome back to Tell Me More. Today we dive into the deep sea.", "Jane Doe"),
        (0.0, 0.0, "Thanks, Jane.", "Sam Lee"),
        (0.0, 0.0, "This paragraph has no speaker label and runs over two lines.", None),
    ]
    assert transcript.duration_s == 0.0
    assert transcript.model.name == "publisher:text"


def test_html_is_stripped_to_paragraphs() -> None:
    transcript = parse_transcript(HTML.encode(), "text/html; charset=UTF-8")
    assert _rows(transcript) == [
        (0.0, 0.0, "Episode 42", None),
        (0.0, 0.0, "Welcome back to Tell Me More & the deep sea.", "Jane Doe"),
        (0.0, 0.0, "Thanks Jane. Glad to be here.", "Sam Lee"),
        (0.0, 0.0, "A closing note.", None),
    ]
    assert transcript.duration_s == 0.0
    assert transcript.model.name == "publisher:html"


@pytest.mark.parametrize(
    ("data", "mime", "url", "fmt"),
    [
        (VTT.encode(), "application/octet-stream", None, "vtt"),
        (VTT.encode(), "TEXT/VTT; charset=utf-8", None, "vtt"),
        (VTT.encode(), "text/plain", None, "vtt"),
        (b"  \nWEBVTT\n\n00:01.000 --> 00:02.000\nHi\n", None, None, "vtt"),
        (SRT.encode(), "text/plain", "https://cdn.example/ep.txt", "srt"),
        (json.dumps(P20_JSON).encode(), None, None, "json"),
        (json.dumps(P20_JSON).encode(), "text/plain", None, "json"),
        (PLAIN.encode(), "application/octet-stream", "https://cdn.example/ep42.TXT?x=1", "text"),
        (PLAIN.encode(), None, "https://cdn.example/ep42.txt", "text"),
        (HTML.encode(), None, None, "html"),
        (b"<p>Hello there.</p>", None, "https://cdn.example/ep42.htm", "html"),
        (b"Hello there.", "text/html", None, "html"),
        (b"00:01.000 --> 00:02.000\nHi\n", None, "https://x.example/t.srt", "srt"),
    ],
)
def test_format_from_mime_then_content_then_extension(
    data: bytes, mime: str | None, url: str | None, fmt: str
) -> None:
    assert parse_transcript(data, mime, url=url).model.name == f"publisher:{fmt}"


def test_json_extension_without_segments_is_malformed() -> None:
    error = _error(b'{"title": "Episode 42"}', None, "https://cdn.example/ep42.json")
    assert error.code == "transcript_malformed"


@pytest.mark.parametrize(
    ("data", "mime", "url"),
    [
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n", None, None),
        (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\n", "application/octet-stream", None),
        (b"%PDF-1.4\n1 0 obj\n", "text/plain", "https://cdn.example/t.txt"),
        (b"%PDF-1.4\n1 0 obj\n", "application/pdf", None),
        (NOISE, None, None),
        (NOISE[::-1], "application/octet-stream", "https://x.example/t.vtt"),
        (b"ID3\x03\x00\x00\x00\x00\x0fvTIT2", "text/plain", None),
        (b"Just some words with no clue what they are.", None, None),
        (b"Just some words.", "application/octet-stream", "https://x.example/t.docx"),
        (VTT.encode(), "audio/mpeg", None),
        (VTT.encode(), "application/x-ttml+xml", None),
    ],
)
def test_unknown_formats_are_refused(data: bytes, mime: str | None, url: str | None) -> None:
    assert _error(data, mime, url).code == "transcript_unknown_format"


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b"", "text/vtt"),
        (b"", None),
        (b" \r\n\t\n", "text/plain"),
        (codecs.BOM_UTF8, "text/plain"),
        (codecs.BOM_UTF16_LE, None),
        (b"<html><body><script>x()</script></body></html>", "text/html"),
    ],
)
def test_empty_files_are_refused(data: bytes, mime: str | None) -> None:
    assert _error(data, mime).code == "transcript_empty"


def test_encodings_boms_and_declared_charsets() -> None:
    cue = "WEBVTT\n\n00:00.000 --> 00:01.000\nCafé naïve\n"
    for encoding in ("utf-16", "utf-16-le", "utf-16-be"):
        bom = b"" if encoding == "utf-16" else codecs.BOM_UTF16_LE
        bom = codecs.BOM_UTF16_BE if encoding == "utf-16-be" else bom
        data = bom + cue.encode(encoding)
        assert parse_transcript(data, None).segments[0].text == "Café naïve"
    latin = cue.encode("iso-8859-1")
    assert parse_transcript(latin, "text/vtt; charset=ISO-8859-1").segments[0].text == "Café naïve"
    assert parse_transcript(cue.encode(), "text/vtt; charset=no-such-charset").segments


@pytest.mark.parametrize(
    "mime", ["text/vtt", "text/vtt; charset=utf-8", 'text/vtt; charset="us-ascii"']
)
def test_bytes_invalid_in_the_declared_charset_are_refused(mime: str) -> None:
    data = b"WEBVTT\n\n00:00.000 --> 00:01.000\nCaf\xe9 \xc3\x28\n"
    assert _error(data, mime).code == "transcript_encoding"
