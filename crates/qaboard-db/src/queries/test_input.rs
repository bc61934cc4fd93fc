//! Test inputs: get-or-create by (database, path), lookup by id.
use super::prelude::*;

pub(crate) fn get_or_create_test_input(
    conn: &mut Conn,
    database: &str,
    path: &str,
) -> Result<TestInputRow, DbError> {
    let find = |conn: &mut Conn| {
        test_inputs::table
            .filter(test_inputs::database.eq(database))
            .filter(test_inputs::path.eq(path))
            .select(input_cols!())
            .first::<TestInputRow>(conn)
            .optional()
    };
    if let Some(t) = find(conn)? {
        return Ok(t);
    }
    diesel::insert_into(test_inputs::table)
        .values((
            test_inputs::database.eq(database),
            test_inputs::path.eq(path),
            test_inputs::data.eq(Value::Object(Map::new())),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    find(conn)?.ok_or_else(|| DbError::NotFound {
        what: "test input",
        key: format!("{database}/{path}"),
    })
}

pub(crate) fn find_test_input(
    conn: &mut Conn,
    id: Option<i32>,
) -> Result<Option<TestInputRow>, DbError> {
    let Some(id) = id else { return Ok(None) };
    Ok(test_inputs::table
        .filter(test_inputs::id.eq(id))
        .select(input_cols!())
        .first::<TestInputRow>(conn)
        .optional()?)
}
