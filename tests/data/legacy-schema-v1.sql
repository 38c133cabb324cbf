BEGIN TRANSACTION;
CREATE TABLE messages (
	seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	id VARCHAR NOT NULL, 
	session_id VARCHAR NOT NULL, 
	data TEXT NOT NULL, 
	UNIQUE (id)
);
INSERT INTO "messages" VALUES(1,'msg_b','ses_old1','{"id":"msg_b","sessionID":"ses_old1","role":"user"}');
INSERT INTO "messages" VALUES(2,'msg_a','ses_old1','{"id":"msg_a","sessionID":"ses_old1","role":"user"}');
INSERT INTO "messages" VALUES(3,'msg_c','ses_old1','{"id":"msg_c","sessionID":"ses_old1","role":"assistant","parentID":"msg_a"}');
CREATE TABLE meta (
	"key" VARCHAR NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "meta" VALUES('schema_version','1');
CREATE TABLE parts (
	seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	id VARCHAR NOT NULL, 
	message_id VARCHAR NOT NULL, 
	session_id VARCHAR NOT NULL, 
	data TEXT NOT NULL, 
	UNIQUE (id)
);
INSERT INTO "parts" VALUES(1,'prt_msg_b2','msg_b','ses_old1','{"id":"prt_msg_b2","sessionID":"ses_old1","messageID":"msg_b","type":"text","text":"two"}');
INSERT INTO "parts" VALUES(2,'prt_msg_b1','msg_b','ses_old1','{"id":"prt_msg_b1","sessionID":"ses_old1","messageID":"msg_b","type":"text","text":"one"}');
INSERT INTO "parts" VALUES(3,'prt_msg_a2','msg_a','ses_old1','{"id":"prt_msg_a2","sessionID":"ses_old1","messageID":"msg_a","type":"text","text":"two"}');
INSERT INTO "parts" VALUES(4,'prt_msg_a1','msg_a','ses_old1','{"id":"prt_msg_a1","sessionID":"ses_old1","messageID":"msg_a","type":"text","text":"one"}');
CREATE TABLE runs (
	message_id VARCHAR NOT NULL, 
	session_id VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	body_hash VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	instance VARCHAR NOT NULL, 
	pgids TEXT NOT NULL, 
	created INTEGER NOT NULL, 
	PRIMARY KEY (message_id)
);
INSERT INTO "runs" VALUES('msg_b','ses_old1','prompt','hash-msg_b','done','run_x','[]',1700000000010);
INSERT INTO "runs" VALUES('msg_a','ses_old1','prompt','hash-msg_a','running','run_x','[4242]',1700000000010);
CREATE TABLE sessions (
	seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	id VARCHAR NOT NULL, 
	project_id VARCHAR NOT NULL, 
	parent_id VARCHAR, 
	title TEXT NOT NULL, 
	updated INTEGER NOT NULL, 
	data TEXT NOT NULL, 
	UNIQUE (id)
);
INSERT INTO "sessions" VALUES(1,'ses_old1','prj',NULL,'Fix the Parser',1700000000001,'{"id":"ses_old1","projectID":"prj","title":"Fix the Parser","time":{"created":1700000000001,"updated":1700000000001}}');
INSERT INTO "sessions" VALUES(2,'ses_old2','prj',NULL,'ÄRGER mit Straße',1700000000002,'{"id":"ses_old2","projectID":"prj","title":"ÄRGER mit Straße","time":{"created":1700000000002,"updated":1700000000002}}');
INSERT INTO "sessions" VALUES(3,'ses_old3','prj','ses_old1','child',1700000000003,'{"id":"ses_old3","projectID":"prj","title":"child","time":{"created":1700000000003,"updated":1700000000003},"parentID":"ses_old1"}');
CREATE TABLE todos (
	session_id VARCHAR NOT NULL, 
	data TEXT NOT NULL, 
	PRIMARY KEY (session_id)
);
INSERT INTO "todos" VALUES('ses_old1','[{"content":"x","status":"pending","priority":"high"}]');
CREATE INDEX sessions_parent ON sessions (parent_id);
CREATE INDEX sessions_project ON sessions (project_id, seq);
CREATE INDEX messages_session ON messages (session_id, seq);
CREATE INDEX parts_session ON parts (session_id);
CREATE INDEX parts_message ON parts (message_id, seq);
CREATE INDEX runs_session ON runs (session_id);
CREATE INDEX runs_status ON runs (status);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('sessions',3);
INSERT INTO "sqlite_sequence" VALUES('messages',3);
INSERT INTO "sqlite_sequence" VALUES('parts',4);
COMMIT;
