// Egress fixtures: a private CA and a TLS front for the (plain HTTP) simulator, made with the
// openssl CLI at test time, and a real HTTP CONNECT proxy on loopback.
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer as createTlsServer } from 'node:tls'

interface Teardown { teardown: (fn: () => unknown) => void }

export interface TestCa {
  dir: string
  /** PEM file of the CA: what CIC_CA_FILE points to. */
  caFile: string
  key: Buffer
  cert: Buffer
}

/** A CA and a server certificate it signed, for localhost and 127.0.0.1. */
export function makeCa (t: Teardown): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'cic-gateway-ca-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const ssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' }) }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=cic-gateway test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
  ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost')
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n')
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf')
  return { dir, caFile: join(dir, 'ca.pem'), key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) }
}

function pipeBoth (a: Socket, b: Socket): void {
  a.on('error', () => b.destroy())
  b.on('error', () => a.destroy())
  a.pipe(b).pipe(a)
}

/** HTTPS in front of an HTTP server on loopback: CIC as the gateway sees it, with a certificate from `ca`. */
export async function startTlsFront (t: Teardown, ca: TestCa, targetPort: number): Promise<{ port: number, handshakes: () => number }> {
  let handshakes = 0
  const server = createTlsServer({ key: ca.key, cert: ca.cert }, socket => {
    pipeBoth(socket, connect(targetPort, '127.0.0.1'))
  })
  // Counted on TCP accept: a handshake the client aborts never reaches the callback above.
  server.on('connection', () => { handshakes++ })
  server.on('tlsClientError', () => {})
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => { await new Promise(resolve => server.close(resolve)) })
  return { port: (server.address() as AddressInfo).port, handshakes: () => handshakes }
}

export interface Proxy {
  url: string
  /** Every CONNECT target, as `host:port`. */
  tunnels: string[]
  /** Proxy-Authorization headers received. */
  authorizations: Array<string | undefined>
}

/** A forward proxy that only tunnels (CONNECT), like most corporate egress proxies for https. */
export async function startConnectProxy (t: Teardown, opts: { credentials?: { user: string, password: string } } = {}): Promise<Proxy> {
  const tunnels: string[] = []
  const authorizations: Array<string | undefined> = []
  const expected = opts.credentials !== undefined
    ? `Basic ${Buffer.from(`${opts.credentials.user}:${opts.credentials.password}`).toString('base64')}`
    : undefined
  const sockets = new Set<Socket>()
  const server = createHttpServer((_req, res) => { res.writeHead(405).end() })
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    tunnels.push(req.url ?? '')
    authorizations.push(req.headers['proxy-authorization'])
    if (expected !== undefined && req.headers['proxy-authorization'] !== expected) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const [host, port] = (req.url ?? '').split(':')
    // The proxy resolves names itself; loopback names only, this is a test.
    const upstream = connect(Number(port), host === 'localhost' ? '127.0.0.1' : host ?? '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      pipeBoth(client, upstream)
    })
    upstream.on('error', () => { client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n') })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise(resolve => server.close(resolve))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, tunnels, authorizations }
}
