package planner

import "strings"

// DefaultStoreSchema is the schema of ghostgate's own state (store.DefaultDatabase; a test keeps
// the two equal without the planner importing the store).
const DefaultStoreSchema = "_ghostgate"

// protect refuses any change whose table, or rename target, is in ghostgate's store schema or a
// system schema (issue 10: "ALTER TABLE _ghostgate.migrations DROP COLUMN ddl" ran through the
// API). Schema names compare case-insensitively: lower_case_table_names differs per server.
func protect(changes []*change, opts Options) error {
	store := cmpOr(opts.StoreSchema, DefaultStoreSchema)
	for _, c := range changes {
		for _, s := range []string{c.schema, c.renameSchema} {
			switch {
			case s == "":
			case strings.EqualFold(s, store) || strings.EqualFold(s, DefaultStoreSchema):
				return refuse(ErrProtectedSchema, "%s is ghostgate's own state schema; its tables are changed only by ghostgate's own upgrades", s)
			case isSystemSchema(s):
				return refuse(ErrProtectedSchema, "%s is a system schema of the server", s)
			}
		}
	}
	return nil
}

// isSystemSchema: the server's own schemas; changing them through ghostgate is never a migration.
func isSystemSchema(s string) bool {
	switch strings.ToLower(s) {
	case "mysql", "information_schema", "performance_schema", "sys":
		return true
	}
	return false
}
