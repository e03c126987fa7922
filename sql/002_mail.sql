-- 002: the mail outbox. Messages are rendered when they are queued (often in the same transaction as the
-- booking or account change they tell about) and delivered by the mail sender of one citasd worker.
-- A sender claims due rows with FOR UPDATE SKIP LOCKED, so several citasd instances can share the table.
-- While a row is 'sending', next_attempt_at is its lease: a row still 'sending' after that (the process
-- died mid-send) is due again. attempts counts claims, including the one in progress.
CREATE TABLE mail_outbox (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    to_addr text NOT NULL CHECK (length(to_addr) BETWEEN 3 AND 254),
    lang text NOT NULL CHECK (lang IN ('es', 'en')),
    kind text NOT NULL CHECK (kind ~ '^[a-z][a-z_]{0,39}$'),
    subject text NOT NULL,
    body_text text NOT NULL,
    body_html text NOT NULL,
    attachment_name text,
    attachment_type text,
    attachment_data bytea,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    sent_at timestamptz,
    CHECK ((attachment_name IS NULL) = (attachment_data IS NULL)
           AND (attachment_type IS NULL) = (attachment_data IS NULL)),
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);

-- The sender's pick: due rows in lease/retry order. Only live rows are indexed, so the index stays small
-- however much mail has been sent.
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at, id) WHERE state IN ('pending', 'sending');
