"""Processing one episode: download, transcribe, segment, summarize, embed, store.

Plain Python (no Ray): the Serve app's processor deployment and the batch pipelines wire these
same steps to their model replicas or actors through the small interfaces in
:mod:`tellmemore.processing.ports`.
"""

from tellmemore.processing import outcomes, policy
from tellmemore.processing.chapters import chapters_doc, parse_chapters, publisher_chapters
from tellmemore.processing.download import (
    DownloadLimits,
    delete_staged,
    download_enclosure,
    sniff_audio_type,
    stage_audio,
)
from tellmemore.processing.episode import EpisodeProcessor, audio_prefix, error_of, transcript_key
from tellmemore.processing.errors import TRANSCRIBER_UNAVAILABLE, ProcessingError
from tellmemore.processing.jobs import PROCESS_EPISODE, EpisodeJobs, make_queue
from tellmemore.processing.ports import Counter, Embed, Models
from tellmemore.processing.publisher import publisher_transcript
from tellmemore.processing.upkeep import Upkeep
from tellmemore.processing.worker import EpisodeWorker

__all__ = [
    "PROCESS_EPISODE",
    "TRANSCRIBER_UNAVAILABLE",
    "Counter",
    "DownloadLimits",
    "Embed",
    "EpisodeJobs",
    "EpisodeProcessor",
    "EpisodeWorker",
    "Models",
    "ProcessingError",
    "Upkeep",
    "audio_prefix",
    "chapters_doc",
    "delete_staged",
    "download_enclosure",
    "error_of",
    "make_queue",
    "outcomes",
    "parse_chapters",
    "policy",
    "publisher_chapters",
    "publisher_transcript",
    "sniff_audio_type",
    "stage_audio",
    "transcript_key",
]
