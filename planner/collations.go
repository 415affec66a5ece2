package planner

import "github.com/pingcap/tidb/pkg/parser/charset"

// The TiDB parser validates collation names against MySQL's list and refuses MariaDB's UCA 14.0.0
// collations, which are the utf8mb4 default from MariaDB 11.x on (SHOW CREATE TABLE then says
// "COLLATE=utf8mb4_uca1400_ai_ci"). They are registered once, at start-up, before any parse: the
// planner only needs the names to parse, never their sort order.
func init() {
	id := 4000 // private IDs, clear of MySQL's and TiDB's; the planner never looks collations up by ID
	for _, cs := range []string{"utf8mb4", "utf8mb3"} {
		for _, pad := range []string{"", "nopad_"} {
			for _, sens := range []string{"ai_ci", "ai_cs", "as_ci", "as_cs"} {
				name := cs + "_uca1400_" + pad + sens
				if _, err := charset.GetCollationByName(name); err == nil {
					continue
				}
				charset.AddCollation(&charset.Collation{ID: id, CharsetName: cs, Name: name, Sortlen: 1, PadAttribute: charset.PadSpace})
				id++
			}
		}
	}
}
