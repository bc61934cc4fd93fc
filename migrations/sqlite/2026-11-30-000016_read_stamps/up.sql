-- Issue 16: per-row change stamps (see the PostgreSQL migration of the same
-- name and docs/read-performance.md). SQLite has no sequences: the one-row
-- table `qaboard_stamp` is the counter. Writers are serialised, so bumping it
-- takes no lock a writer does not already hold. Every update of a commit,
-- batch or output (and a project's insert or data change) takes the next value;
-- deletes bump the parent row; a test input's change bumps the batches that
-- show it. Inserts of commits, batches and outputs take no stamp (the new
-- row adds one to the count): a new output runs no trigger. Recursive
-- triggers are off (SQLite's default): the stamping UPDATEs inside the
-- triggers fire no further stamping.
CREATE TABLE qaboard_stamp (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO qaboard_stamp (id, value) VALUES (1, 0);

ALTER TABLE projects ADD COLUMN stamp INTEGER;
ALTER TABLE ci_commits ADD COLUMN stamp INTEGER;
ALTER TABLE batches ADD COLUMN stamp INTEGER;
ALTER TABLE outputs ADD COLUMN stamp INTEGER;

CREATE TRIGGER ci_commits_stamp_update AFTER UPDATE ON ci_commits
    WHEN NEW.stamp IS OLD.stamp
BEGIN
    UPDATE qaboard_stamp SET value = value + 1 WHERE id = 1;
    UPDATE ci_commits SET stamp = (SELECT value FROM qaboard_stamp WHERE id = 1) WHERE id = NEW.id;
END;

CREATE TRIGGER batches_stamp_update AFTER UPDATE ON batches
    WHEN NEW.stamp IS OLD.stamp
BEGIN
    UPDATE qaboard_stamp SET value = value + 1 WHERE id = 1;
    UPDATE batches SET stamp = (SELECT value FROM qaboard_stamp WHERE id = 1) WHERE id = NEW.id;
END;

CREATE TRIGGER outputs_stamp_update AFTER UPDATE ON outputs
    WHEN NEW.stamp IS OLD.stamp
BEGIN
    UPDATE qaboard_stamp SET value = value + 1 WHERE id = 1;
    UPDATE outputs SET stamp = (SELECT value FROM qaboard_stamp WHERE id = 1) WHERE id = NEW.id;
END;

CREATE TRIGGER projects_stamp_insert AFTER INSERT ON projects
BEGIN
    UPDATE qaboard_stamp SET value = value + 1 WHERE id = 1;
    UPDATE projects SET stamp = (SELECT value FROM qaboard_stamp WHERE id = 1) WHERE id = NEW.id;
END;

CREATE TRIGGER projects_stamp_update AFTER UPDATE ON projects
    WHEN NEW.stamp IS OLD.stamp AND (NEW.data IS NOT OLD.data OR NEW.id IS NOT OLD.id)
BEGIN
    UPDATE qaboard_stamp SET value = value + 1 WHERE id = 1;
    UPDATE projects SET stamp = (SELECT value FROM qaboard_stamp WHERE id = 1) WHERE id = NEW.id;
END;

CREATE TRIGGER outputs_stamp_delete AFTER DELETE ON outputs
BEGIN
    UPDATE qaboard_stamp SET value = value + 1 WHERE id = 1;
    UPDATE batches SET stamp = (SELECT value FROM qaboard_stamp WHERE id = 1) WHERE id = OLD.batch_id;
END;

CREATE TRIGGER batches_stamp_delete AFTER DELETE ON batches
BEGIN
    UPDATE qaboard_stamp SET value = value + 1 WHERE id = 1;
    UPDATE ci_commits SET stamp = (SELECT value FROM qaboard_stamp WHERE id = 1) WHERE id = OLD.ci_commit_id;
END;

CREATE TRIGGER ci_commits_stamp_delete AFTER DELETE ON ci_commits
BEGIN
    UPDATE qaboard_stamp SET value = value + 1 WHERE id = 1;
    UPDATE projects SET stamp = (SELECT value FROM qaboard_stamp WHERE id = 1) WHERE id = OLD.project_id;
END;

-- A row moved to another parent re-stamps the parent it left, as a delete would.
CREATE TRIGGER outputs_stamp_moved AFTER UPDATE OF batch_id ON outputs
    WHEN OLD.batch_id IS NOT NEW.batch_id
BEGIN
    UPDATE qaboard_stamp SET value = value + 1 WHERE id = 1;
    UPDATE batches SET stamp = (SELECT value FROM qaboard_stamp WHERE id = 1) WHERE id = OLD.batch_id;
END;

CREATE TRIGGER batches_stamp_moved AFTER UPDATE OF ci_commit_id ON batches
    WHEN OLD.ci_commit_id IS NOT NEW.ci_commit_id
BEGIN
    UPDATE qaboard_stamp SET value = value + 1 WHERE id = 1;
    UPDATE ci_commits SET stamp = (SELECT value FROM qaboard_stamp WHERE id = 1) WHERE id = OLD.ci_commit_id;
END;

CREATE TRIGGER ci_commits_stamp_moved AFTER UPDATE OF project_id ON ci_commits
    WHEN OLD.project_id IS NOT NEW.project_id
BEGIN
    UPDATE qaboard_stamp SET value = value + 1 WHERE id = 1;
    UPDATE projects SET stamp = (SELECT value FROM qaboard_stamp WHERE id = 1) WHERE id = OLD.project_id;
END;

CREATE TRIGGER test_inputs_stamp_update AFTER UPDATE ON test_inputs
    WHEN NEW.data IS NOT OLD.data OR NEW.path IS NOT OLD.path OR NEW.database IS NOT OLD.database
BEGIN
    UPDATE qaboard_stamp SET value = value + 1 WHERE id = 1;
    UPDATE batches SET stamp = (SELECT value FROM qaboard_stamp WHERE id = 1)
        WHERE id IN (SELECT batch_id FROM outputs WHERE test_input_id = NEW.id);
END;

CREATE INDEX outputs_batch_stamp ON outputs (batch_id, stamp);
CREATE INDEX batches_commit_stamp ON batches (ci_commit_id, stamp);
