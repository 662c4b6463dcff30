/** Queue items from the API's shapes (search hits, tell-me-more items, playlist items, episodes). */
import type { Schemas } from "../api/client";
import { itemKey, type QueueItem, stripFragment } from "./queue";

export function fromTellMeMore(i: Schemas["TellMeMoreItemOut"]): QueueItem | null {
  if (!i.audio_url) return null;
  return {
    key: itemKey(i.episode_id, i.start_s),
    episodeId: i.episode_id,
    title: i.episode_title,
    podcastTitle: i.podcast_title,
    audioUrl: stripFragment(i.audio_url),
    start: i.start_s,
    end: i.end_s,
  };
}

/** A search hit plays its passage, from the matching sentence to the passage's end. */
export function fromHit(h: Schemas["SegmentHitOut"]): QueueItem | null {
  if (!h.audio_url) return null;
  const start = Math.min(h.deep_link_s, h.end_s);
  return {
    key: itemKey(h.episode_id, start),
    episodeId: h.episode_id,
    title: h.episode_title,
    podcastTitle: h.podcast_title,
    audioUrl: stripFragment(h.audio_url),
    start,
    end: h.end_s,
  };
}

export function fromPlaylistItem(playlistId: string, i: Schemas["ItemOut"]): QueueItem | null {
  if (!i.enclosure_url) return null;
  return {
    key: i.id,
    episodeId: i.episode_id,
    title: i.episode_title,
    podcastTitle: i.podcast_title,
    audioUrl: stripFragment(i.enclosure_url),
    start: i.start_s ?? 0,
    end: i.end_s ?? null,
    playlistId,
    itemId: i.id,
  };
}

export function fromEpisode(e: Schemas["EpisodeOut"], podcastTitle: string, start: number): QueueItem | null {
  if (!e.enclosure_url) return null;
  return {
    key: itemKey(e.id, start),
    episodeId: e.id,
    title: e.title,
    podcastTitle,
    audioUrl: stripFragment(e.enclosure_url),
    start,
    end: null,
  };
}

export function playable<T>(items: (T | null)[]): T[] {
  return items.filter((i): i is T => i !== null);
}
