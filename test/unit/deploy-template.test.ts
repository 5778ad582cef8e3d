// The Go template subset of deploy inspect --format: what it prints, and the errors for
// everything it does not support.
import t from 'tap';
import { TemplateError, goString, renderTemplate } from '@flotilla/deploy';

const doc = {
  Name: '/web',
  State: { Status: 'running', Running: true, ExitCode: 0, Pid: 0 },
  Config: {
    Env: ['A=1', 'B=2'],
    Labels: { app: 'web', 'flotilla.io/x': 'y' },
    Cmd: null,
    ExposedPorts: { '8080/tcp': {} },
  },
  Mounts: [
    { Type: 'bind', Source: '/srv', Destination: '/www', RW: false },
    { Type: 'volume', Source: '', Destination: '/cache', RW: true },
  ],
  NetworkSettings: { Ports: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '18080' }] } },
};

function error(template: string, data: unknown = doc): string {
  try {
    renderTemplate(template, data);
  } catch (err) {
    if (err instanceof TemplateError) return err.message;
    throw err;
  }
  throw new Error(`${template} rendered without an error`);
}

t.test('fields, dot, json and plain text', async (t) => {
  t.equal(renderTemplate('{{.State.Status}}', doc), 'running');
  t.equal(
    renderTemplate('{{ .Name }} is {{.State.Status}} ({{.State.ExitCode}})', doc),
    '/web is running (0)',
  );
  t.equal(renderTemplate('{{.State.Running}}', doc), 'true');
  t.equal(renderTemplate('plain text', doc), 'plain text');
  t.equal(renderTemplate('{{json .Config.Env}}', doc), '["A=1","B=2"]');
  t.equal(renderTemplate('{{json .Mounts}}', doc), JSON.stringify(doc.Mounts));
  t.equal(renderTemplate('{{json .}}', { a: 1 }), '{"a":1}');
  t.equal(renderTemplate('{{.}}', 'x'), 'x');
  t.equal(renderTemplate('{{.Config.Env}}', doc), '[A=1 B=2]', 'lists as Go prints them');
  t.equal(renderTemplate('{{.Config.Labels}}', doc), 'map[app:web flotilla.io/x:y]', 'maps with sorted keys');
  t.equal(renderTemplate('{{.Config.Cmd}}', doc), '<no value>');
  t.equal(renderTemplate('{{.Config.Labels.missing}}', doc), '<no value>', 'a missing map key');
  t.equal(renderTemplate('{{.State.Status | json}}', doc), '"running"', 'pipes');
  t.equal(renderTemplate('{{.Name | upper}} {{lower "AB"}} {{len .Mounts}}', doc), '/WEB ab 2');
  t.equal(renderTemplate('{{join .Config.Env ","}}', doc), 'A=1,B=2');
  t.equal(renderTemplate('{{print "a" 1}}', doc), 'a1');
  t.equal(renderTemplate('{{/* a comment */}}x', doc), 'x');
});

t.test('index', async (t) => {
  t.equal(renderTemplate('{{index .Config.Labels "app"}}', doc), 'web');
  t.equal(renderTemplate('{{index .Config.Labels "flotilla.io/x"}}', doc), 'y');
  t.equal(renderTemplate('{{index .Config.Labels "none"}}', doc), '');
  t.equal(renderTemplate('{{index .Config.Env 1}}', doc), 'B=2');
  t.equal(
    renderTemplate('{{index .NetworkSettings.Ports "8080/tcp" 0 | json}}', doc),
    '{"HostIp":"127.0.0.1","HostPort":"18080"}',
  );
});

t.test('range, if, with and else', async (t) => {
  t.equal(renderTemplate('{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}', doc), '/srv:/www :/cache ');
  t.equal(renderTemplate('{{range .Config.Env}}[{{.}}]{{end}}', doc), '[A=1][B=2]');
  t.equal(
    renderTemplate('{{range .Config.Labels}}{{.}},{{end}}', doc),
    'web,y,',
    'a map ranges over its values by key',
  );
  t.equal(renderTemplate('{{range .Config.Cmd}}x{{else}}none{{end}}', doc), 'none');
  t.equal(renderTemplate('{{if .State.Running}}up{{else}}down{{end}}', doc), 'up');
  t.equal(renderTemplate('{{if .State.ExitCode}}failed{{else}}ok{{end}}', doc), 'ok');
  t.equal(renderTemplate('{{with .State}}{{.Status}}{{end}}', doc), 'running');
  t.equal(renderTemplate('{{with .Config.Cmd}}{{.}}{{else}}no cmd{{end}}', doc), 'no cmd');
  t.equal(
    renderTemplate(
      '{{range .Mounts}}{{if .RW}}rw {{.Destination}}{{else}}ro {{.Destination}}{{end}};{{end}}',
      doc,
    ),
    'ro /www;rw /cache;',
  );
  t.equal(
    renderTemplate('{{range .NetworkSettings.Ports}}{{range .}}{{.HostIp}}:{{.HostPort}}{{end}}{{end}}', doc),
    '127.0.0.1:18080',
  );
});

t.test('trim markers', async (t) => {
  t.equal(renderTemplate('a  {{- .Name -}}  b', doc), 'a/webb');
  t.equal(renderTemplate('{{range .Config.Env -}}\n  {{.}}\n{{- end}}', doc), 'A=1B=2');
});

t.test('unsupported actions and mistakes are errors that say what is wrong', async (t) => {
  t.match(error('{{.State.Stat}}'), /no field "Stat" in \.State; it has Status, Running, ExitCode, Pid/);
  t.match(error('{{.Name.First}}'), /cannot read field "First" of \.Name: it is a string/);
  t.match(error('{{range $i, $m := .Mounts}}{{end}}'), /variables such as "\$i," are not supported/);
  t.match(error('{{$x := 1}}'), /variables such as "\$x" are not supported/);
  t.match(error('{{template "x"}}'), /the action "template" is not supported; supported: /);
  t.match(error('{{define "x"}}{{end}}'), /the action "define" is not supported/);
  t.match(error('{{block "x" .}}{{end}}'), /the action "block" is not supported/);
  t.match(
    error('{{printf "%s" .Name}}'),
    /function "printf" is not supported; supported: json, index, len, join/,
  );
  t.match(error('{{title .Name}}'), /function "title" is not supported/);
  t.match(error('{{.Name'), /unclosed action/);
  t.match(error('{{range .Mounts}}x'), /an \{\{end\}\} is missing/);
  t.match(error('x{{end}}'), /unexpected \{\{end\}\}/);
  t.match(error('{{else if .X}}{{end}}'), /unexpected \{\{else\}\}/);
  t.match(
    error('{{if .State.Running}}a{{else if .Name}}b{{end}}'),
    /"\{\{else if \.Name\}\}" is not supported/,
  );
  t.match(error('{{}}'), /missing value in action/);
  t.match(error('{{.Name .State}}'), /only a function can take arguments/);
  t.match(error('{{index .Config.Env 5}}'), /index 5 out of range of a list of 2/);
  t.match(error('{{json}}'), /json takes 1 argument, got 0/);
  t.match(error('{{range .Name}}{{end}}'), /range over \/web: not a list or map/);
  t.match(error('{{(index .Config.Labels "app")}}'), /parentheses are not supported/);
  t.match(error('{{"unterminated}}'), /unclosed action|unterminated string/);
});

t.test('Go value printing', async (t) => {
  t.equal(goString(null), '<no value>');
  t.equal(goString([1, null, 'a']), '[1 <nil> a]');
  t.equal(goString({ b: [1], a: { c: true } }), 'map[a:map[c:true] b:[1]]');
  t.equal(goString(1.5), '1.5');
});
