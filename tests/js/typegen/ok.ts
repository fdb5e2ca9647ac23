// Type-checked with `tsc --strict` against the types `supalite gen types
// typescript` prints for tests/fixtures/typegen/schema.sql
// (tests/tests/typegen.rs): typed results of supabase-js calls.
import { createClient } from "@supabase/supabase-js"
import {
  Constants,
  type CompositeTypes,
  type Database,
  type Enums,
  type Tables,
  type TablesInsert,
  type TablesUpdate,
} from "./database.types.js"

const supabase = createClient<Database>("http://127.0.0.1:54321", "anon-key")

export async function typed() {
  const { data } = await supabase.from("authors").select("id, name, mood")
  const id: number = data![0].id
  const name: string = data![0].name
  const mood: Enums<"mood"> | null = data![0].mood

  // Embedded through the foreign key books.author_id → authors.id.
  const { data: books } = await supabase.from("books").select("id, title, tags, authors(name)")
  const title: string = books![0].title
  const tags: string[] = books![0].tags
  const authorName: string | undefined = books![0].authors?.name

  const row: Tables<"books"> = books as unknown as Tables<"books">
  const price: number | null = row.price
  const insert: TablesInsert<"authors"> = { name: "Ann" }
  const update: TablesUpdate<"books"> = { title: "New title" }
  const address: CompositeTypes<"address"> = { street: null, city: "Oslo", zip: null, tags: ["a"] }

  const { data: sum } = await supabase.rpc("add", { a: 1 })
  const total: number = sum!
  const { data: top } = await supabase.rpc("top_authors", { min_books: 2 })
  const count: number = top![0].books
  const { data: byAuthor } = await supabase.rpc("books_by", { author: 1 })
  const first: string = byAuthor![0].title
  const { data: described } = await supabase.rpc("describe", { t: "x", loud: true })
  const text: string = described!

  const { data: stats } = await supabase.from("author_stats").select("book_count, titles")
  const books_: number | null = stats![0].book_count
  const { data: notes } = await supabase.schema("extra").from("notes").select("id, level")
  const level: "low" | "high" = notes![0].level
  const moods: readonly ("happy" | "sad" | 'it\'s "complicated"')[] = Constants.public.Enums.mood

  return [id, name, mood, title, tags, authorName, price, insert, update, address, total, count, first, text, books_, level, moods]
}
