-- Private feeds: a podcast added by a URL that carries a subscriber's credentials (or marked
-- private by its subscriber) is seen only by its subscribers (tellmemore/catalog/visibility.py).

ALTER TABLE podcasts ADD COLUMN private boolean NOT NULL DEFAULT false;
-- The private set is small and read on every search ("which podcasts to leave out").
CREATE INDEX podcasts_private ON podcasts (id) WHERE private;

-- url_key now keeps a URL's userinfo, so two subscribers' credentials never share a key. Keys
-- of stored URLs with userinfo get it back (the userinfo ends at the authority's last '@').
UPDATE podcast_feed_urls
SET url_key = substring(url_key FROM '^[a-z][a-z0-9+.-]*://')
              || substring(url FROM '^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)@') || '@'
              || substring(url_key FROM '^[a-z][a-z0-9+.-]*://(.*)$')
WHERE url ~ '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*[^/?#@][^/?#]*@'
  AND url_key !~ '^[a-z][a-z0-9+.-]*://[^/?#]*@';

-- Backfill by the parts of the rule SQL can say (tellmemore/catalog/feeds/credentials.py):
-- userinfo, secret-named query parameters, account parameters with long values, premium hosts.
-- Token-looking values under other names are caught when the feed is next refreshed.
CREATE FUNCTION pg_temp.carries_credentials(url text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT url ~ '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*[^/?#@][^/?#]*@'
        OR url ~* ('[?&]([a-z0-9_.-]*(token|_key|-key|secret|password|signature|credential)'
                   '|token|auth|authorization|key|sig|signature|secret|password|passwd|pass|pwd'
                   '|session|sessionid|sid|jwt|hmac|otp|email|apikey|credentials)=[^&#]')
        OR url ~* ('[?&](uid|user|userid|user_id|username|member|member_id|memberid|subscriber'
                   '|subscriber_id|customer|customer_id|account|account_id)=[^&#]{8,}')
        OR url ~* '^[a-z][a-z0-9+.-]*://([^/?#]*@)?([^/?#@:]*\.)?patreon\.com(:[0-9]+)?/rss/'
        OR url ~* '^[a-z][a-z0-9+.-]*://([^/?#]*@)?([^/?#@:]*\.)?supercast\.com(:[0-9]+)?/feeds/'
        OR url ~* '^[a-z][a-z0-9+.-]*://([^/?#]*@)?([^/?#@:]*\.)?supportingcast\.fm(:[0-9]+)?([/?#]|$)'
        OR url ~* '^[a-z][a-z0-9+.-]*://([^/?#]*@)?([^/?#@:]*\.)?memberful\.com(:[0-9]+)?([/?#]|$)'
        OR url ~* '^[a-z][a-z0-9+.-]*://[^/?#]*/rss/feed/[^?#]*\?.'
        OR url ~* '^[a-z][a-z0-9+.-]*://([^/?#]*@)?([^/?#@:]*\.)?substack\.com(:[0-9]+)?/feed/podcast/([^?#]*\?.|.*/private/)'
$$;

UPDATE podcasts p SET private = true
WHERE pg_temp.carries_credentials(p.feed_url)
   OR EXISTS (SELECT 1 FROM podcast_feed_urls u
              WHERE u.podcast_id = p.id AND pg_temp.carries_credentials(u.url));

DROP FUNCTION pg_temp.carries_credentials(text);
