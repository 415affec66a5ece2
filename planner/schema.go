package planner

import (
	"fmt"
	"strings"
)

// schemaDefs are the table definitions of an offline schema file.
type schemaDefs struct {
	tables map[string]*table // by tableKey
	views  map[string]bool   // by tableKey
}

// readSchema reads a schema file as mysqldump / mariadb-dump --no-data write it (with or without
// --compact, --routines, --triggers, --databases), as is: executable comments resolved for srv,
// the client's DELIMITER honoured, session SETs, comments, LOCK/UNLOCK TABLES, USE, CREATE
// DATABASE and DROP … IF EXISTS skipped; tables modelled, views and triggers recognised, routines
// and events skipped. Anything else is refused with the statement quoted.
func readSchema(text string, srv Server, defSchema string) (schemaDefs, error) {
	lx, err := lexSQL(text, srv, true)
	if err != nil {
		return schemaDefs{}, fmt.Errorf("planner: table definitions: %w", err)
	}
	d := schemaDefs{tables: map[string]*table{}, views: map[string]bool{}}
	current := defSchema
	ps := &sqlParser{}
	for i, st := range lx.stmts {
		if err := d.statement(ps, st, &current); err != nil {
			line, _ := lineCol(text, st.pos)
			return schemaDefs{}, fmt.Errorf("planner: table definitions: statement %d at line %d (%q): %w", i+1, line, abbreviate(st.text, 80), err)
		}
	}
	return d, nil
}

func (d *schemaDefs) statement(ps *sqlParser, st sqlStmt, current *string) error {
	t := st.toks
	first := strings.ToUpper(t[0].text)
	switch {
	case t[0].kind != tokWord:
	case first == "SET" || first == "LOCK" || first == "UNLOCK" || first == "BEGIN" || first == "COMMIT" || first == "START":
		return nil
	case first == "USE" && len(t) == 2 && t[1].ident():
		*current = t[1].name()
		return nil
	case first == "DROP" && indexWord(t, "IF") == 2 || first == "DROP" && indexWord(t, "IF") == 3:
		return nil // DROP TABLE/VIEW/PROCEDURE/… IF EXISTS: the definition follows
	case first == "ALTER" && len(t) > 1 && t[1].is("DATABASE"), first == "ALTER" && (indexWord(t, "DISABLE") > 0 || indexWord(t, "ENABLE") > 0) && indexWord(t, "KEYS") > 0:
		return nil // ALTER DATABASE … CHARACTER SET around routines; ALTER TABLE … DISABLE KEYS
	case first == "CREATE":
		return d.create(ps, st, *current)
	}
	return fmt.Errorf("not a table definition (CREATE TABLE), view, trigger or routine: %w", ErrUnsupported)
}

// create handles CREATE TABLE, VIEW, TRIGGER, and skips the rest of what a dump creates.
func (d *schemaDefs) create(ps *sqlParser, st sqlStmt, current string) error {
	t := st.toks
	for i := 1; i < len(t); i++ {
		if t[i].kind != tokWord {
			continue
		}
		switch strings.ToUpper(t[i].text) {
		case "TABLE":
			tb, err := modelCreate(ps, st, current)
			if err != nil {
				return err
			}
			tb.triggers = d.tables[tableKey(tb.schema, tb.name)].triggersOrNil()
			d.tables[tableKey(tb.schema, tb.name)] = tb
			delete(d.views, tableKey(tb.schema, tb.name))
			return nil
		case "VIEW":
			schema, name, _, ok := tableRef(t[i+1:])
			if !ok {
				return fmt.Errorf("CREATE VIEW without a name: %w", ErrParse)
			}
			key := tableKey(cmpOr(schema, current), name)
			d.views[key] = true
			delete(d.tables, key) // older dumps create a placeholder table for the view first
			return nil
		case "TRIGGER":
			return d.trigger(t[i+1:], current)
		case "DATABASE", "SCHEMA", "PROCEDURE", "FUNCTION", "EVENT", "SEQUENCE", "INDEX":
			return nil
		}
	}
	return fmt.Errorf("an unknown CREATE statement: %w", ErrUnsupported)
}

// trigger records "name {BEFORE|AFTER} event ON table …" on its table.
func (d *schemaDefs) trigger(t []tok, current string) error {
	on := indexWord(t, "ON")
	if on < 0 {
		return fmt.Errorf("CREATE TRIGGER without ON <table>: %w", ErrParse)
	}
	_, name, _, _ := tableRef(t)
	schema, table, _, ok := tableRef(t[on+1:])
	if !ok {
		return fmt.Errorf("CREATE TRIGGER without ON <table>: %w", ErrParse)
	}
	tb := d.tables[tableKey(cmpOr(schema, current), table)]
	if tb == nil {
		return fmt.Errorf("trigger %s is on table %s, which the file does not define before it: %w", name, table, ErrUnknownTable)
	}
	tb.triggers = append(tb.triggers, name)
	return nil
}

func (t *table) triggersOrNil() []string {
	if t == nil {
		return nil
	}
	return t.triggers
}
