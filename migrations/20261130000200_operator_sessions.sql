-- Operators can be deleted (the row stays for the audit trail, flagged) and carry
-- the version of their sessions: session tokens hold the version they were minted
-- at and stop working once an event (password change, disable, delete, "end
-- sessions") bumps it. Rows are reset to version 0 so that the view repair at the
-- next start refolds every operator from its events and fills the new columns.
ALTER TABLE operator_view
    ADD COLUMN deleted         boolean NOT NULL DEFAULT false,
    ADD COLUMN session_version bigint  NOT NULL DEFAULT 0;

UPDATE operator_view SET version = 0;

CREATE INDEX operator_view_username ON operator_view (lower(username)) WHERE NOT deleted;
