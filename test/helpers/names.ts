/**
 * Names (client ids, topics, namespaces) for one test file: distinct from
 * those of other files running at the same time (the process id) and from
 * each other within the file (a counter).
 */
export function uniqueNames(): (prefix: string) => string {
  let counter = 0;
  return (prefix) => `${prefix}-${process.pid}-${++counter}`;
}
