-- Issue 16: per-row change stamps, so that cached answers depend only on the
-- rows they render (see docs/read-performance.md).
--
-- Every update of a commit, a batch or an output (and every insert or data
-- change of a project) gives the row a new value of the sequence
-- `qaboard_stamp`, whoever writes (this server, another process, the original
-- backend, psql). Inserts of commits, batches and outputs need no stamp (the
-- new row adds one to the count), so the ingestion fast path (a new output)
-- runs no trigger at all. Deleting rows
-- bumps their parent instead (output -> batch -> commit -> project), and a
-- change to a test input bumps the batches that show it. A version of a read
-- is then the count and sum of the stamps of what it renders: any committed
-- change makes it different, in whatever order transactions commit.
--
-- Cheap on a big adopted database: nullable columns without default only
-- change the catalog; legacy rows keep NULL (counted, summed as 0) until
-- they next change. The two indexes are built once (they scan their table).
CREATE SEQUENCE qaboard_stamp;

ALTER TABLE projects ADD COLUMN stamp BIGINT;
ALTER TABLE ci_commits ADD COLUMN stamp BIGINT;
ALTER TABLE batches ADD COLUMN stamp BIGINT;
ALTER TABLE outputs ADD COLUMN stamp BIGINT;

-- The one function that stamps a row. `BEFORE UPDATE` row triggers run once
-- the row is locked, so a new stamp is always larger than the row's last.
CREATE FUNCTION qaboard_stamp_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.stamp := nextval('qaboard_stamp');
    RETURN NEW;
END $$;

CREATE TRIGGER qaboard_stamp BEFORE UPDATE ON ci_commits
    FOR EACH ROW EXECUTE PROCEDURE qaboard_stamp_row();
CREATE TRIGGER qaboard_stamp BEFORE UPDATE ON batches
    FOR EACH ROW EXECUTE PROCEDURE qaboard_stamp_row();
CREATE TRIGGER qaboard_stamp BEFORE UPDATE ON outputs
    FOR EACH ROW EXECUTE PROCEDURE qaboard_stamp_row();
-- A project's activity time changes on ingestion and is not rendered by the
-- cached reads: only its identity and data count.
CREATE TRIGGER qaboard_stamp BEFORE INSERT ON projects
    FOR EACH ROW EXECUTE PROCEDURE qaboard_stamp_row();
CREATE TRIGGER qaboard_stamp_data BEFORE UPDATE ON projects
    FOR EACH ROW WHEN (OLD.data IS DISTINCT FROM NEW.data OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE PROCEDURE qaboard_stamp_row();

-- Deletes bump the parent rows (their BEFORE UPDATE trigger stamps them),
-- once per statement.
CREATE FUNCTION qaboard_stamp_parents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'outputs' THEN
        UPDATE batches SET stamp = NULL
            WHERE id IN (SELECT DISTINCT batch_id FROM qaboard_old_rows);
    ELSIF TG_TABLE_NAME = 'batches' THEN
        UPDATE ci_commits SET stamp = NULL
            WHERE id IN (SELECT DISTINCT ci_commit_id FROM qaboard_old_rows);
    ELSIF TG_TABLE_NAME = 'ci_commits' THEN
        UPDATE projects SET stamp = nextval('qaboard_stamp')
            WHERE id IN (SELECT DISTINCT project_id FROM qaboard_old_rows);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER qaboard_stamp_parents AFTER DELETE ON outputs
    REFERENCING OLD TABLE AS qaboard_old_rows
    FOR EACH STATEMENT EXECUTE PROCEDURE qaboard_stamp_parents();
CREATE TRIGGER qaboard_stamp_parents AFTER DELETE ON batches
    REFERENCING OLD TABLE AS qaboard_old_rows
    FOR EACH STATEMENT EXECUTE PROCEDURE qaboard_stamp_parents();
CREATE TRIGGER qaboard_stamp_parents AFTER DELETE ON ci_commits
    REFERENCING OLD TABLE AS qaboard_old_rows
    FOR EACH STATEMENT EXECUTE PROCEDURE qaboard_stamp_parents();

-- A row moved to another parent (an output to another batch, a batch to
-- another commit, a commit to another project) re-stamps the parent it left,
-- as a delete would: a set only loses rows through its parent's stamp.
CREATE FUNCTION qaboard_stamp_old_parent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'outputs' THEN
        UPDATE batches SET stamp = NULL WHERE id = OLD.batch_id;
    ELSIF TG_TABLE_NAME = 'batches' THEN
        UPDATE ci_commits SET stamp = NULL WHERE id = OLD.ci_commit_id;
    ELSIF TG_TABLE_NAME = 'ci_commits' THEN
        UPDATE projects SET stamp = nextval('qaboard_stamp') WHERE id = OLD.project_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER qaboard_stamp_moved AFTER UPDATE OF batch_id ON outputs
    FOR EACH ROW WHEN (OLD.batch_id IS DISTINCT FROM NEW.batch_id)
    EXECUTE PROCEDURE qaboard_stamp_old_parent();
CREATE TRIGGER qaboard_stamp_moved AFTER UPDATE OF ci_commit_id ON batches
    FOR EACH ROW WHEN (OLD.ci_commit_id IS DISTINCT FROM NEW.ci_commit_id)
    EXECUTE PROCEDURE qaboard_stamp_old_parent();
CREATE TRIGGER qaboard_stamp_moved AFTER UPDATE OF project_id ON ci_commits
    FOR EACH ROW WHEN (OLD.project_id IS DISTINCT FROM NEW.project_id)
    EXECUTE PROCEDURE qaboard_stamp_old_parent();

-- Outputs show their test input's path, database and metadata: a change to
-- those re-stamps the batches holding outputs of that input.
CREATE FUNCTION qaboard_stamp_input_batches() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE batches SET stamp = NULL
        WHERE id IN (SELECT DISTINCT batch_id FROM outputs WHERE test_input_id = NEW.id);
    RETURN NULL;
END $$;

CREATE TRIGGER qaboard_stamp_input AFTER UPDATE ON test_inputs
    FOR EACH ROW WHEN (OLD.data IS DISTINCT FROM NEW.data
        OR OLD.path IS DISTINCT FROM NEW.path OR OLD.database IS DISTINCT FROM NEW.database)
    EXECUTE PROCEDURE qaboard_stamp_input_batches();

-- Versions are index-only aggregates over these.
CREATE INDEX outputs_batch_stamp ON outputs (batch_id, stamp);
CREATE INDEX batches_commit_stamp ON batches (ci_commit_id, stamp);
