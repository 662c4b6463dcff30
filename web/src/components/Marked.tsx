import { marked } from "../format";

/** A passage with its matching words in `<mark>`: built from character ranges, never from HTML. */
export function Marked({ text, marks }: { text: string; marks: ReadonlyArray<ReadonlyArray<number>> }) {
  return (
    <>
      {marked(text, marks).map((part, i) => (part.mark ? <mark key={i}>{part.text}</mark> : <span key={i}>{part.text}</span>))}
    </>
  );
}
