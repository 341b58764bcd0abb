// Small HTTP helpers for tests: real requests over loopback with undici.
import { request, type Dispatcher } from 'undici'

export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: () => any
}

export async function send (url: string, opts: Partial<Dispatcher.RequestOptions> & { method?: Dispatcher.HttpMethod } = {}): Promise<Reply> {
  const res = await request(url, { method: 'POST', ...opts } as Dispatcher.RequestOptions)
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) }
}

export async function postDocument (baseUrl: string, filename: string, body: Dispatcher.RequestOptions['body'], headers: Record<string, string> = {}): Promise<Reply> {
  return await send(`${baseUrl}/documents?filename=${encodeURIComponent(filename)}`, { body, headers: { 'content-type': 'application/octet-stream', ...headers } })
}

export interface Part {
  name: string
  value: string | Buffer
  /** Present for a file part. Sent raw (quotes escaped), so tests control exactly what the server parses. */
  filename?: string
}

/** A multipart/form-data body built by hand (undici's FormData with Node 24's Blob hangs). */
export function multipart (parts: Part[]): { body: Buffer, headers: Record<string, string> } {
  const boundary = `----cic-gateway-test-${Math.random().toString(16).slice(2)}`
  const chunks: Buffer[] = []
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename.replace(/"/g, '%22')}"` : ''}`
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${p.filename !== undefined ? 'Content-Type: application/octet-stream\r\n' : ''}\r\n`))
    chunks.push(Buffer.isBuffer(p.value) ? p.value : Buffer.from(p.value))
    chunks.push(Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { body: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}
