-- 012: mail is stored as its template's parameters and rendered when it is sent.
-- A rendered confirmation (subject, text, HTML) is several kilobytes: PostgreSQL compressed it in the
-- booking's transaction, and the sender's claim and 'sent' mark each copied the row again. The parameters
-- (code, office, date, procedure, address, name) are a few hundred bytes. Rows queued before this
-- migration, or written by hand, keep their rendered subject and bodies and are sent as they are.
ALTER TABLE mail_outbox
    ADD COLUMN params json,
    ALTER COLUMN subject DROP NOT NULL,
    ALTER COLUMN body_text DROP NOT NULL,
    ALTER COLUMN body_html DROP NOT NULL,
    ADD CONSTRAINT mail_outbox_rendered_or_params
        CHECK ((subject IS NOT NULL AND body_text IS NOT NULL AND body_html IS NOT NULL)
               OR (subject IS NULL AND body_text IS NULL AND body_html IS NULL AND params IS NOT NULL));
