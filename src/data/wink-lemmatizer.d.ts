/** Types of the parts of wink-lemmatizer (3.x, plain JavaScript) that the Enron loader uses. */
declare module 'wink-lemmatizer' {
  interface WinkLemmatizer {
    /** The noun lemma of a lower-case word, or the word itself. */
    noun(word: string): string;
    /** The verb lemma of a lower-case word, or the word itself. */
    verb(word: string): string;
    /** The adjective lemma of a lower-case word, or the word itself. */
    adjective(word: string): string;
  }
  const lemmatizer: WinkLemmatizer;
  export default lemmatizer;
}
