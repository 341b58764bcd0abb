// A raw HTTP/1.1 exchange over a socket, for requests undici refuses to send (bad methods, huge heads).
import { connect } from 'node:net'

export async function rawRequest (url: string, head: string, body = ''): Promise<{ status: number, headers: string, body: string }> {
  const { hostname, port } = new URL(url)
  return await new Promise((resolve, reject) => {
    // Written, not ended: a half-closed socket may be closed before an asynchronous answer. Send Connection: close.
    const socket = connect(Number(port), hostname, () => { socket.write(head + body) })
    let data = ''
    socket.on('data', (d: Buffer) => { data += d.toString('latin1') })
    socket.on('error', err => { if (data === '') reject(err) })
    socket.on('close', () => {
      const [headers = '', rest = ''] = data.split('\r\n\r\n')
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1] ?? 0), headers, body: rest })
    })
  })
}
