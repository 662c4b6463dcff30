-- An account's email is verified once its owner follows the link we mailed to it. Until then
-- the account can sign in, search and subscribe, but nothing it adds is processed (the GPUs
-- are the expensive part, and free unverified accounts would otherwise be a way to spend them).
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- Accounts made before verification existed keep working as they did.
UPDATE users SET email_verified_at = created_at;
