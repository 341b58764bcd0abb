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
