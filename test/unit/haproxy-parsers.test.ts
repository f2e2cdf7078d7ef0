import { parseCheckOutput, parseVersion } from '../../agent/haproxy/config-check.js';
import { parseShowProc } from '../../agent/haproxy/proc-parse.js';
import { replyError } from '../../agent/haproxy/runtime-replies.js';
import { filterServerState, parseServerState, serializeServerState, ServerStateFormatError } from '../../agent/haproxy/state-file.js';
import { parseShowInfo, parseShowStat } from '../../agent/haproxy/stat-parse.js';
import { assert, suite } from '../harness/uvu.js';

// All fixtures below were captured from /usr/sbin/haproxy 2.6.12-1+deb12u4.

const t = suite('haproxy parsers');

const SHOW_PROC = `#<PID>          <type>          <reloads>       <uptime>        <version>      
4586            master          2 [failed: 0]   0d00h00m24s     2.6.12-1+deb12u4
# workers
5093            worker          0               0d00h00m00s     2.6.12-1+deb12u4
# old workers
4589            worker          2               0d00h00m23s     2.6.12-1+deb12u4
# programs

`;

const SHOW_PROC_FAILED = `#<PID>          <type>          <reloads>       <uptime>        <version>      
4586            master          3 [failed: 1]   0d00h00m32s     2.6.12-1+deb12u4
# workers
5093            worker          1               0d00h00m08s     2.6.12-1+deb12u4
# programs
`;

t('show proc: master, workers, old workers', () => {
  assert.equal(parseShowProc(SHOW_PROC), {
    master: { pid: 4586, reloads: 2, failedReloads: 0, uptime: '0d00h00m24s', version: '2.6.12-1+deb12u4' },
    workers: [{ pid: 5093, reloads: 0, uptime: '0d00h00m00s', version: '2.6.12-1+deb12u4' }],
    oldWorkers: [{ pid: 4589, reloads: 2, uptime: '0d00h00m23s', version: '2.6.12-1+deb12u4' }],
    programs: [],
  });
  const failed = parseShowProc(SHOW_PROC_FAILED);
  assert.is(failed.master.failedReloads, 1);
  assert.is(failed.master.reloads, 3);
  assert.equal(failed.workers.map((w) => w.pid), [5093]);
  assert.throws(() => parseShowProc('Name: HAProxy\n'), /no master line/);
});

const SERVERS_STATE = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 b1 1 s1 127.0.0.1 0 5 1 1 1 1 0 0 14 0 0 0 - 1 - 0 0 - - 0
3 b1 2 s2 127.0.0.1 2 0 1 1 1 1 0 2 0 0 0 0 - 2 - 0 0 - - 0
4 b2 1 s1 127.0.0.1 2 0 1 1 1 1 0 2 0 0 0 0 - 3 - 0 0 - - 0
`;

t('server state: parse, serialize round-trip, filter', () => {
  const st = parseServerState(SERVERS_STATE);
  assert.is(st.columns.length, 25);
  assert.is(st.rows.length, 3);
  assert.is(st.rows[0]?.srv_admin_state, '5');
  assert.is(st.rows[2]?.be_name, 'b2');
  assert.is(st.rows[2]?.srv_port, '3');
  assert.is(serializeServerState(st), SERVERS_STATE);
  const kept = filterServerState(SERVERS_STATE, (r) => !(r.be_name === 'b1' && r.srv_port !== '2'));
  assert.equal(parseServerState(kept).rows.map((r) => `${r.be_name}/${r.srv_name}`), ['b1/s2', 'b2/s1']);
  // Empty dump (no servers) stays valid.
  const empty = filterServerState(SERVERS_STATE, () => false);
  assert.is(empty.split('\n')[0], '1');
  assert.is(parseServerState(empty).rows.length, 0);
  assert.throws(() => parseServerState('2\n# be_id\n'), (e: unknown) => e instanceof ServerStateFormatError);
  assert.throws(() => parseServerState('1\n3 b1 1\n'), /3 fields/);
});

const STAT_HEADER =
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,';
const SHOW_STAT = `${STAT_HEADER}
fe,FRONTEND,,,0,0,9979,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,,,0,0,0,0,0,0,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,,0,0,0,0,0,0,0,,,0,0,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
b1,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,1,1,,1,3,1,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:1,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
b1,s2,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,10,1,0,,,2,,,1,3,2,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:2,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,10,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
b1,BACKEND,0,0,0,0,1,0,0,0,0,0,,0,0,0,0,UP,11,2,0,,0,2,0,,1,3,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin,,,,,,,0,0,0,0,0,,,0,0,0,0,0,,,,,11,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,

`;

t('show stat: records keyed by header names', () => {
  const recs = parseShowStat(SHOW_STAT);
  assert.is(recs.length, 4);
  assert.equal(
    recs.map((r) => [r.pxname, r.svname, r.type, r.status]),
    [
      ['fe', 'FRONTEND', '0', 'OPEN'],
      ['b1', 's1', '2', 'MAINT'],
      ['b1', 's2', '2', 'no check'],
      ['b1', 'BACKEND', '1', 'UP'],
    ],
  );
  const s2 = recs[2];
  assert.is(s2?.weight, '10');
  assert.is(s2?.addr, '127.0.0.1:2');
  assert.is(s2?.uweight, '10');
  assert.is(s2?.h1_spliced_bytes_out, '');
  assert.is(recs[3]?.algo, 'roundrobin');
  assert.not.ok('-' in (s2 ?? {}), 'the "-" marker column is not a field');
  assert.throws(() => parseShowStat('fe,FRONTEND\n'), /header/);
});

t('show info: key/value', () => {
  const info = parseShowInfo('Name: HAProxy\nVersion: 2.6.12-1+deb12u4\nUptime: 0d 0h00m06s\nUnstoppable Jobs: 1\nBuild info: 2.6.12-1+deb12u4\n');
  assert.equal(info, { Name: 'HAProxy', Version: '2.6.12-1+deb12u4', Uptime: '0d 0h00m06s', 'Unstoppable Jobs': '1', 'Build info': '2.6.12-1+deb12u4' });
});

t('runtime replies: errors per command family', () => {
  const errors: Array<[string, string]> = [
    ['frobnicate', 'Unknown command, but maybe one of the following ones is a better match:\n  add acl [@<ver>] <acl> <pattern>        : add an acl entry'],
    ['set server b1/zz weight 5', 'No such server.'],
    ['set server zz/s1 weight 5', 'No such backend.'],
    ['set server b1 weight 5', "Require 'backend/server'."],
    ['set server b1/s1 weight abc', 'Empty weight string empty or preceded by garbage'],
    ['set server b1/s1 weight 1000', 'Absolute weight can only be between 0 and 256 inclusive.'],
    ['set server b1/s1 addr 1.2.3', "Invalid addr '1.2.3' by 'stats socket command'"],
    ['set server b1/s1 state foo', "'set server <srv> state' expects 'ready', 'drain' and 'maint'."],
    ['set server b1/s1 foo', 'usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight'],
    ['del server b1/s2', 'Only servers in maintenance mode can be deleted.'],
    ['prepare map /tmp/nope.map', 'Unknown map identifier. Please use #<id> or <file>.'],
    ['commit map @5 /tmp/x.map', 'Version number out of range.'],
    ['add map @9 /tmp/x.map', "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) and a payload"],
    ['show servers state zz', "Can't find backend."],
    ['enable server b1/zz', 'No such server.'],
    ['add server be/s1 127.0.0.1:1', 'Already exists a server with the same name in backend.'],
    ['@1 set server zz/s1 weight 1', 'No such backend.'],
    ['set map /tmp/x.map k v', 'entry not found.'],
    ['del map /tmp/x.map k', 'Key not found.'],
    ['set server b1/s1 fqdn foo.example', 'set server <b>/<s> fqdn failed because no resolution is configured.'],
    ['set server b1/s1 agent up', 'agent checks are not enabled on this server.'],
  ];
  for (const [cmd, reply] of errors) assert.is(replyError(cmd, reply), reply, cmd);
  const oks: Array<[string, string]> = [
    ['set server b1/s1 weight 5', ''],
    ['set server b1/s1 state ready', ''],
    ['set weight b1/s2 10', ''],
    ['add map @2 /tmp/x.map', ''],
    ['commit map @2 /tmp/x.map', ''],
    ['prepare map /tmp/x.map', 'New version created: 2'],
    ['set server b1/s1 addr 127.0.0.1 port 5', "no need to change the addr, no need to change the port by 'stats socket command'"],
    ['set server b1/s1 addr 127.0.0.2 port 9', "IP changed from '127.0.0.1' to '127.0.0.2', port changed from '1' to '9' by 'stats socket command'"],
    ['add server be/s3 127.0.0.1:9003 check', 'New server registered.'],
    ['del server be/s3', 'Server deleted.'],
    ['add map /tmp/x.map 5 b2', ''],
    ['clear map /tmp/x.map', ''],
    ['set maxconn server b1/s1 10', ''],
    ['show map /tmp/x.map', '0x55f3db109310 0 b1\n0x55f3db2da050 5 b2'],
    ['get weight b1/s2', '0 (initial 1)'],
    ['show info', 'Name: HAProxy\nVersion: 2.6.12-1+deb12u4'],
    ['show servers state', SERVERS_STATE.trim()],
  ];
  for (const [cmd, reply] of oks) assert.is(replyError(cmd, reply), null, cmd);
  // A set command with any text is an error, even text we have not seen.
  assert.is(replyError('set server b1/s1 weight 5', 'Something new.'), 'Something new.');
});

// `haproxy -c -f` output (stderr) for several broken configs.
const CHECK_OUTPUTS = `[NOTICE]   (4986) : haproxy version is 2.6.12-1+deb12u4
[NOTICE]   (4986) : path to executable is /usr/sbin/haproxy
[ALERT]    (4986) : config : parsing [b1.cfg:2] : unknown keyword 'foo' in 'global' section
[ALERT]    (4986) : config : parsing [b1.cfg:10] : unknown keyword 'blah' in 'frontend' section
[ALERT]    (4986) : config : Error(s) found in configuration file : b1.cfg
[ALERT]    (4986) : config : Fatal errors found in configuration.
[ALERT]    (5029) : config : Proxy 'fe': unable to find required default_backend: 'nope'.
[ALERT]    (5029) : config : backend 'shop:v1' : unable to find server 'zz' referenced in a 'use-server' rule.
[WARNING]  (5031) : config : missing timeouts for frontend 'fe'.
   | While not properly invalid, you will certainly encounter various problems
   | with such a configuration. To fix this, please ensure that all following
   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.
[ALERT]    (5031) : config : parsing [b2.cfg:8] : backend 'b', another server named 's1' was already defined at line 7, please use distinct names.
[ALERT]    (5033) : config : parsing [b3.cfg:2] : 'bind' : invalid character 'a' in port number 'abc' in '127.0.0.1:abc'
[ALERT]    (5035) : config : Parsing [b4.cfg:5]: failed to parse use_backend rule '%[req.hdr(x),map(/tmp/cap/none.map)]' : failed to open pattern file </tmp/cap/none.map>.
[ALERT]    (5037) : config : Cannot open configuration file/directory nonexist.cfg : No such file or directory
[ALERT]    (5040) : config : [b5.cfg:12] : 'server b/s1' : unexpected character 'a' in 'agent-inter' argument of server s1..
[WARNING]  (5056) : config : 'option forwardfor' ignored for frontend 'fe' as it requires HTTP mode.
[ALERT]    (4586) : Binding [a.cfg:10] for frontend fe: cannot bind socket (Address already in use) for [127.0.0.1:18099]
Warnings were found.
Configuration file is valid
`;

t('haproxy -c output: table-driven diagnostics', () => {
  assert.equal(parseCheckOutput(CHECK_OUTPUTS), [
    { level: 'alert', file: 'b1.cfg', line: 2, message: "unknown keyword 'foo' in 'global' section" },
    { level: 'alert', file: 'b1.cfg', line: 10, message: "unknown keyword 'blah' in 'frontend' section" },
    { level: 'alert', proxy: 'fe', message: "unable to find required default_backend: 'nope'." },
    { level: 'alert', proxy: 'shop:v1', message: "unable to find server 'zz' referenced in a 'use-server' rule." },
    {
      level: 'warning',
      proxy: 'fe',
      message:
        "missing timeouts for frontend 'fe'. While not properly invalid, you will certainly encounter various problems with such a configuration. To fix this, please ensure that all following timeouts are set to a non-zero value: 'client', 'connect', 'server'.",
    },
    { level: 'alert', file: 'b2.cfg', line: 8, proxy: 'b', message: "backend 'b', another server named 's1' was already defined at line 7, please use distinct names." },
    { level: 'alert', file: 'b3.cfg', line: 2, message: "'bind' : invalid character 'a' in port number 'abc' in '127.0.0.1:abc'" },
    { level: 'alert', file: 'b4.cfg', line: 5, message: "failed to parse use_backend rule '%[req.hdr(x),map(/tmp/cap/none.map)]' : failed to open pattern file </tmp/cap/none.map>." },
    { level: 'alert', message: 'Cannot open configuration file/directory nonexist.cfg : No such file or directory' },
    { level: 'alert', file: 'b5.cfg', line: 12, message: "'server b/s1' : unexpected character 'a' in 'agent-inter' argument of server s1.." },
    { level: 'warning', proxy: 'fe', message: "'option forwardfor' ignored for frontend 'fe' as it requires HTTP mode." },
    { level: 'alert', file: 'a.cfg', line: 10, proxy: 'fe', message: 'cannot bind socket (Address already in use) for [127.0.0.1:18099]' },
  ]);
});

t('haproxy -v', () => {
  assert.equal(parseVersion('HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/\nStatus: long-term supported branch'), {
    full: '2.6.12-1+deb12u4',
    major: 2,
    minor: 6,
    patch: 12,
  });
  assert.is(parseVersion('nope'), null);
});

t.run();
