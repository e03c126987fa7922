/* calendar: the slot loader shared by citasd and citasctl (the Lua script and the query that feeds it). */
#include "citas/calendar.h"

#include "calendar_lua.h"

#include <stdio.h>

const char calendar_load_lua[] = CAL_LUA_LOAD;

#define LOAD_SQL(WINDOW, TAKEN)                                                                              \
    "SELECT w.office_code, w.procedure_code, w.id, (extract(epoch FROM w.release_at) * 1000)::bigint,"       \
    " w.state, s.id, extract(epoch FROM s.starts_at)::bigint,"                                               \
    " to_char(s.local_start, 'YYYY-MM-DD\"T\"HH24:MI'), s.capacity,"                                         \
    " CASE WHEN s.state = 'cancelled' THEN 'cancelled' WHEN w.state = 'closed' THEN 'closed' ELSE 'open' "   \
    "END,"                                                                                                   \
    " " TAKEN " FROM calendar_windows w JOIN slots s ON s.window_id = w.id WHERE w.id = " WINDOW             \
    " ORDER BY s.starts_at, s.id"

#define TAKEN_SEATS                                                                                          \
    "coalesce((SELECT string_agg(a.seat::text, ',' ORDER BY a.seat) FROM appointments a"                     \
    " WHERE a.slot_id = s.id AND a.state IN ('active', 'checked_in')), '')"

const char calendar_sql_load_window[] = LOAD_SQL("$1::bigint", TAKEN_SEATS);
/* a window just created has no appointment yet */
const char cal_sql_load_new_window[] = LOAD_SQL("currval('calendar_windows_id_seq')", "''");

int calendar_load_args(const PGresult *res, int from, int to, char key[96], const char **argv)
{
    if (PQnfields(res) != 11 || from < 0 || to > PQntuples(res) || from >= to)
        return -1;
    snprintf(key, 96, "cal:{%s}:window:%s", PQgetvalue(res, from, 0), PQgetvalue(res, from, 2));
    int n = 0;
    argv[n++] = key;
    for (int c = 0; c < 5; c++) /* office, procedure, window, release, window state */
        argv[n++] = PQgetvalue(res, from, c);
    for (int r = from; r < to; r++)
        for (int c = 5; c < 11; c++)
            argv[n++] = PQgetvalue(res, r, c);
    return n;
}
