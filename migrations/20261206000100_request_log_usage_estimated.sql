-- RequestCompleted 4.0 marks usage the gateway estimated (the provider answered but
-- its usage report never came, or came cut short: the client left mid-stream, the
-- stream broke). The request log shows the mark. Every earlier event reads as not
-- estimated, which is what the default fills in, so no projection is rebuilt; the
-- default also serves a process of the previous binary during a rolling upgrade.
ALTER TABLE request_log ADD COLUMN usage_estimated boolean NOT NULL DEFAULT false;
