// Must fail `tsc --strict` with TS2322 (tests/tests/typegen.rs): a name
// is a string, and an identity column generated always cannot be written.
import { createClient } from "@supabase/supabase-js"
import type { Database, TablesInsert } from "./database.types.js"

const supabase = createClient<Database>("http://127.0.0.1:54321", "anon-key")

export async function wrong() {
  const { data } = await supabase.from("authors").select("id, name")
  const n: number = data![0].name
  const insert: TablesInsert<"authors"> = { id: 1, name: "Ann" }
  return [n, insert]
}
