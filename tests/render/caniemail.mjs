// Judge email HTML with caniemail (caniemail.com data): print the errors as JSON.
// Usage: node tests/render/caniemail.mjs FILE.html...   ->  {"FILE": [{client, title, line, column, text}]}
import { readFileSync } from 'node:fs';
import { caniemail } from 'caniemail';

const CLIENTS = ['gmail.*', 'outlook.*', 'apple-mail.*', 'yahoo.*'];
const report = {};
for (const file of process.argv.slice(2)) {
  const html = readFileSync(file, 'utf8');
  const lines = html.split('\n');
  const result = caniemail({ clients: CLIENTS, html });
  const found = [];
  for (const [client, issues] of result.issues.errors) {
    for (const issue of issues) {
      const start = issue.position?.start;
      const end = issue.position?.end;
      let text = '';
      if (start && end && start.line === end.line) {
        text = (lines[start.line - 1] || '').slice(start.column - 1, end.column - 1);
      } else if (start) {
        text = (lines[start.line - 1] || '').slice(start.column - 1, start.column + 80);
      }
      found.push({ client, title: issue.title, line: start?.line ?? 0, column: start?.column ?? 0, text: text.slice(0, 200) });
    }
  }
  report[file] = found;
}
process.stdout.write(JSON.stringify(report));
