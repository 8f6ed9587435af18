package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// h2conn is the fleet's own gRPC client connection: gRPC over one HTTP/2
// connection, one stream at a time, read and written by the goroutine that
// uses the stream. It is what Envoy's client is to the replica (a gRPC
// peer with its own HTTP/2 stack), and costs the fleet a fraction of
// gRPC-Go's client: no reader or writer goroutine per connection, no
// hand-offs between them and the stream, no channelz records. The fleet
// shares two cores with the replica it measures, so what the fleet spends
// is taken from the figures (docs/bench/notes.md); -transport grpc runs
// the same clients on gRPC-Go's client instead.
//
// It implements grpc.ClientConnInterface for streams only, so the
// generated ADS client and test/xdsclient run on it unchanged.
type h2conn struct {
	addr string

	mu     sync.Mutex // guards the connection's lifetime
	nc     net.Conn   // nil until the first stream, and after a failure
	closed bool

	wmu  sync.Mutex // serialises writes
	wbuf []byte
	henc *hpack.Encoder
	hbuf bytes.Buffer

	rmu         sync.Mutex // serialises reads
	br          *bufio.Reader
	hdec        *hpack.Decoder
	block       []byte // a header block across CONTINUATION frames
	blockSID    uint32
	blockEnd    bool // the block's HEADERS frame ended its stream
	maxFrame    atomic.Int64
	peerInitial int64        // the server's initial stream window
	connSend    atomic.Int64 // window for what we send, connection
	connUnread  int64        // received and not yet given back with WINDOW_UPDATE
	goneAway    atomic.Bool  // the connection must not take new streams
	nextID      uint32
	cur         *h2stream
}

// The fleet's windows, as gRPC-Go's client had them (-transport grpc).
const (
	h2Window      = 1 << 20
	h2DefaultSize = 65535
	h2ReadBuf     = 16 << 10
)

func newH2Conn(addr string) *h2conn { return &h2conn{addr: addr} }

// Close ends the connection and any stream on it.
func (c *h2conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.nc != nil {
		return c.nc.Close()
	}
	return nil
}

// Invoke is not used: the fleet runs streams only.
func (c *h2conn) Invoke(context.Context, string, any, any, ...grpc.CallOption) error {
	return status.Error(codes.Unimplemented, "bench fleet: unary calls are not supported")
}

// NewStream opens a stream, dialling first if the connection is new, lost,
// going away, or still carries a stream its user abandoned.
func (c *h2conn) NewStream(ctx context.Context, _ *grpc.StreamDesc, method string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, status.Error(codes.Canceled, "bench fleet: connection closed")
	}
	stale := c.nc != nil && (c.goneAway.Load() || c.nextID > 1<<30 || (c.cur != nil && !c.cur.ended.Load()))
	if stale {
		_ = c.nc.Close() // ends a read still blocked on it, which holds c.rmu
	}
	c.rmu.Lock()
	c.wmu.Lock()
	defer c.rmu.Unlock()
	defer c.wmu.Unlock()
	if c.nc == nil || stale {
		c.nc = nil
		if err := c.dial(ctx); err != nil {
			return nil, status.Errorf(codes.Unavailable, "dial %s: %v", c.addr, err)
		}
	} else {
		_ = c.nc.SetDeadline(time.Time{}) // in case the last stream's context ended late
	}
	s := &h2stream{c: c, ctx: ctx, id: c.nextID}
	s.send.Store(c.peerInitial)
	c.nextID += 2
	if err := c.writeHeaders(s.id, method); err != nil {
		_ = c.nc.Close()
		c.nc = nil
		return nil, status.Errorf(codes.Unavailable, "open stream on %s: %v", c.addr, err)
	}
	c.cur = s
	nc := c.nc
	s.stop = context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	return s, nil
}

// dial opens a new connection and sends the preface; c.mu, c.rmu and
// c.wmu are held.
func (c *h2conn) dial(ctx context.Context) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	c.nc, c.br = nc, bufio.NewReaderSize(nc, h2ReadBuf)
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.hdec = hpack.NewDecoder(4096, nil)
	c.block, c.peerInitial, c.connUnread, c.nextID, c.cur = nil, h2DefaultSize, 0, 1, nil
	c.goneAway.Store(false)
	c.maxFrame.Store(16384)
	c.connSend.Store(h2DefaultSize)
	b := append(c.wbuf[:0], "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"...)
	b = appendFrameHeader(b, 12, frameSettings, 0, 0)
	b = binary.BigEndian.AppendUint16(b, settingEnablePush)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint16(b, settingInitialWindow)
	b = binary.BigEndian.AppendUint32(b, h2Window)
	b = appendWindowUpdate(b, 0, h2Window-h2DefaultSize)
	c.wbuf = b
	if _, err := nc.Write(b); err != nil {
		_ = nc.Close()
		c.nc = nil
		return err
	}
	return nil
}

// writeHeaders opens stream id with a gRPC request's headers; c.wmu is
// held.
func (c *h2conn) writeHeaders(id uint32, method string) error {
	c.hbuf.Reset()
	for _, f := range [...]hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: method}, {Name: ":authority", Value: c.addr},
		{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
		{Name: "user-agent", Value: "chancery-bench-fleet"},
	} {
		if err := c.henc.WriteField(f); err != nil {
			return err
		}
	}
	b := appendFrameHeader(c.wbuf[:0], c.hbuf.Len(), frameHeaders, flagEndHeaders, id)
	c.wbuf = append(b, c.hbuf.Bytes()...)
	_, err := c.nc.Write(c.wbuf)
	return err
}

// h2stream is one gRPC stream on an h2conn.
type h2stream struct {
	c    *h2conn
	ctx  context.Context
	id   uint32
	stop func() bool

	ended atomic.Bool // err is set

	send atomic.Int64 // window for what we send
	mbuf []byte       // the message being sent, its prefix first; one sender at a time

	// read side, under c.rmu
	unread  int64 // received and not yet given back
	hdr     [5]byte
	hdrN    int
	msg     *[]byte // message being received, from respPool
	msgN    int
	ready   []*[]byte // whole messages not yet returned by RecvMsg
	gotHead bool
	err     error // why the stream ended (io.EOF: cleanly); nil while open
}

func (s *h2stream) Header() (metadata.MD, error) { return nil, nil }
func (s *h2stream) Trailer() metadata.MD         { return nil }
func (s *h2stream) Context() context.Context     { return s.ctx }

// CloseSend half-closes the stream.
func (s *h2stream) CloseSend() error {
	c := s.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = appendFrameHeader(c.wbuf[:0], 0, frameData, flagEndStream, s.id)
	_, err := c.nc.Write(c.wbuf)
	return err
}

// SendMsg encodes m and sends it, waiting for flow-control window if the
// server has not given enough.
func (s *h2stream) SendMsg(m any) error {
	b := append(s.mbuf[:0], 0, 0, 0, 0, 0) // gRPC's prefix: not compressed, then the length
	var err error
	switch m := m.(type) {
	case *discoveryv3.DeltaDiscoveryRequest:
		b, err = appendDeltaRequest(b, m)
	case *claimRequest:
		b, err = appendClaimRequest(b, m)
	case proto.Message:
		b, err = proto.MarshalOptions{}.MarshalAppend(b, m)
	default:
		err = fmt.Errorf("bench fleet: cannot send %T", m)
	}
	if err != nil {
		return status.Errorf(codes.Internal, "encode request: %v", err)
	}
	s.mbuf = b
	binary.BigEndian.PutUint32(b[1:], uint32(len(b)-5))
	if err := s.takeWindow(int64(len(b))); err != nil {
		return err
	}
	c := s.c
	c.wmu.Lock()
	w := c.wbuf[:0]
	for frame := int(c.maxFrame.Load()); len(b) > 0; {
		k := min(len(b), frame)
		w = appendFrameHeader(w, k, frameData, 0, s.id)
		w = append(w, b[:k]...)
		b = b[k:]
	}
	c.wbuf = w
	_, err = c.nc.Write(w)
	c.wmu.Unlock()
	if err != nil {
		return s.fail(status.Errorf(codes.Unavailable, "send to %s: %v", c.addr, err))
	}
	return nil
}

// takeWindow takes n bytes of send window. The reading side only adds to
// the windows and there is one sender, so what is seen stays; when it is
// short, the sender reads frames itself until the server has given enough.
func (s *h2stream) takeWindow(n int64) error {
	c := s.c
	if c.connSend.Load() < n || s.send.Load() < n {
		c.rmu.Lock()
		for c.connSend.Load() < n || s.send.Load() < n {
			if s.err != nil {
				c.rmu.Unlock()
				return s.err
			}
			if err := c.readFrame(); err != nil {
				c.rmu.Unlock()
				return s.err
			}
		}
		c.rmu.Unlock()
	}
	c.connSend.Add(-n)
	s.send.Add(-n)
	return nil
}

// fail ends the stream with err unless it has ended already.
func (s *h2stream) fail(err error) error {
	s.c.rmu.Lock()
	defer s.c.rmu.Unlock()
	s.end(err)
	return s.err
}

// end records why the stream ended; the first reason stays.
func (s *h2stream) end(err error) {
	if s.err == nil {
		s.err = err
		s.ended.Store(true)
		if s.stop != nil {
			s.stop()
		}
	}
}

// RecvMsg reads frames until a whole message has arrived and decodes it
// into m. A *deltaResponse takes the buffer the message was read into.
func (s *h2stream) RecvMsg(m any) error {
	c := s.c
	c.rmu.Lock()
	for len(s.ready) == 0 && s.err == nil {
		if err := c.readFrame(); err != nil {
			break
		}
	}
	if len(s.ready) == 0 {
		err := s.err
		c.rmu.Unlock()
		return err
	}
	buf := s.ready[0]
	s.ready = s.ready[1:]
	c.rmu.Unlock()

	switch m := m.(type) {
	case *deltaResponse:
		m.release()
		m.buf = buf
		return decodeDeltaResponse(*buf, &m.DeltaDiscoveryResponse)
	case *discoveryv3.DeltaDiscoveryResponse:
		return decodeDeltaResponse(*buf, m) // the message keeps the buffer
	case *discoveryv3.DiscoveryResponse:
		return decodeSotwResponse(*buf, m)
	}
	return newCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(*buf)}, m)
}

// HTTP/2 frame types, flags and settings the fleet uses (RFC 9113).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8
	frameContinuation = 0x9

	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20

	settingHeaderTableSize = 0x1
	settingEnablePush      = 0x2
	settingInitialWindow   = 0x4
	settingMaxFrameSize    = 0x5
)

func appendFrameHeader(b []byte, length, typ, flags int, stream uint32) []byte {
	return append(b, byte(length>>16), byte(length>>8), byte(length), byte(typ), byte(flags),
		byte(stream>>24), byte(stream>>16), byte(stream>>8), byte(stream))
}

func appendWindowUpdate(b []byte, stream uint32, incr int) []byte {
	b = appendFrameHeader(b, 4, frameWindowUpdate, 0, stream)
	return binary.BigEndian.AppendUint32(b, uint32(incr))
}

// readFrame reads and handles one frame; c.rmu is held. An error ends the
// current stream and the connection.
func (c *h2conn) readFrame() error {
	s := c.cur
	err := c.handleFrame(s)
	if err != nil && s != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("connection closed by the server")
		}
		if s.ctx.Err() != nil {
			err = status.FromContextError(s.ctx.Err()).Err()
		} else {
			err = status.Errorf(codes.Unavailable, "%s: %v", c.addr, err)
		}
		s.end(err)
		c.goneAway.Store(true) // the connection is in an unknown state: dial again
		_ = c.nc.Close()
	}
	return err
}

func (c *h2conn) handleFrame(s *h2stream) error {
	var h [9]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return err
	}
	length := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
	typ, flags := h[3], h[4]
	sid := binary.BigEndian.Uint32(h[5:]) & (1<<31 - 1)
	if typ != frameData && length > 1<<20 {
		return fmt.Errorf("frame of %d bytes", length)
	}
	if c.block != nil && typ != frameContinuation {
		return errors.New("header block interrupted")
	}
	if typ == frameData {
		return c.readData(s, sid, flags, length)
	}
	p := make([]byte, length)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return err
	}
	switch typ {
	case frameHeaders:
		if flags&flagPadded != 0 {
			if len(p) < 1 || int(p[0]) > len(p)-1 {
				return errors.New("bad HEADERS padding")
			}
			p = p[1 : len(p)-int(p[0])]
		}
		if flags&flagPriority != 0 {
			if len(p) < 5 {
				return errors.New("short HEADERS priority")
			}
			p = p[5:]
		}
		c.block, c.blockSID, c.blockEnd = p, sid, flags&flagEndStream != 0
		if flags&flagEndHeaders != 0 {
			return c.endBlock(s)
		}
	case frameContinuation:
		if c.block == nil || sid != c.blockSID {
			return errors.New("stray CONTINUATION")
		}
		c.block = append(c.block, p...)
		if flags&flagEndHeaders != 0 {
			return c.endBlock(s)
		}
	case frameSettings:
		if flags&flagAck != 0 {
			return nil
		}
		for ; len(p) >= 6; p = p[6:] {
			id, v := binary.BigEndian.Uint16(p), binary.BigEndian.Uint32(p[2:])
			switch id {
			case settingHeaderTableSize:
				c.henc.SetMaxDynamicTableSizeLimit(v)
			case settingInitialWindow:
				if s != nil {
					s.send.Add(int64(v) - c.peerInitial)
				}
				c.peerInitial = int64(v)
			case settingMaxFrameSize:
				c.maxFrame.Store(int64(min(v, 1<<20)))
			}
		}
		return c.writeControl(appendFrameHeader(nil, 0, frameSettings, flagAck, 0))
	case framePing:
		if flags&flagAck != 0 || len(p) != 8 {
			return nil
		}
		return c.writeControl(append(appendFrameHeader(nil, 8, framePing, flagAck, 0), p...))
	case frameWindowUpdate:
		if len(p) != 4 {
			return errors.New("bad WINDOW_UPDATE")
		}
		incr := int64(binary.BigEndian.Uint32(p) & (1<<31 - 1))
		switch {
		case sid == 0:
			c.connSend.Add(incr)
		case s != nil && sid == s.id:
			s.send.Add(incr)
		}
	case frameRSTStream:
		if s != nil && sid == s.id && len(p) == 4 {
			s.end(status.Errorf(codes.Unavailable, "stream reset by %s (HTTP/2 error %d)", c.addr, binary.BigEndian.Uint32(p)))
		}
	case frameGoAway:
		c.goneAway.Store(true)
		if len(p) >= 8 && s != nil && s.id > binary.BigEndian.Uint32(p)&(1<<31-1) {
			s.end(status.Errorf(codes.Unavailable, "%s is going away", c.addr))
		}
	}
	return nil
}

// readData reads a DATA frame's payload: the current stream's straight
// into the message it continues, anything else into nothing.
func (c *h2conn) readData(s *h2stream, sid uint32, flags byte, length int) error {
	c.connUnread += int64(length) // flow control counts padding too
	frameLen := length
	pad := 0
	if flags&flagPadded != 0 {
		if length < 1 {
			return errors.New("bad DATA padding")
		}
		b, err := c.br.ReadByte()
		if err != nil {
			return err
		}
		pad, length = int(b), length-1
		if pad > length {
			return errors.New("bad DATA padding")
		}
	}
	body := length - pad
	if s == nil || sid != s.id || s.err != nil {
		if _, err := c.br.Discard(length); err != nil {
			return err
		}
	} else {
		s.unread += int64(frameLen)
		if err := s.readMessages(c.br, body); err != nil {
			return err
		}
		if _, err := c.br.Discard(pad); err != nil {
			return err
		}
		if flags&flagEndStream != 0 {
			s.end(status.Errorf(codes.Internal, "%s ended the stream without a status", c.addr))
		}
	}
	var b []byte
	if c.connUnread >= h2Window/4 {
		b = appendWindowUpdate(b, 0, int(c.connUnread))
		c.connUnread = 0
	}
	if s != nil && s.unread >= h2Window/4 {
		b = appendWindowUpdate(b, s.id, int(s.unread))
		s.unread = 0
	}
	if b != nil {
		return c.writeControl(b)
	}
	return nil
}

// readMessages reads n bytes of the stream's data: gRPC messages, each a
// five-byte prefix (compressed flag, length) and the message.
func (s *h2stream) readMessages(r io.Reader, n int) error {
	for n > 0 {
		if s.msg == nil {
			k := min(n, 5-s.hdrN)
			if _, err := io.ReadFull(r, s.hdr[s.hdrN:s.hdrN+k]); err != nil {
				return err
			}
			s.hdrN += k
			n -= k
			if s.hdrN < 5 {
				continue
			}
			if s.hdr[0] != 0 {
				return errors.New("compressed message")
			}
			size := binary.BigEndian.Uint32(s.hdr[1:])
			if size > 1<<30 {
				return fmt.Errorf("message of %d bytes", size)
			}
			s.msg, s.msgN, s.hdrN = respPool.Get(int(size)), 0, 0 // an empty one is whole below
		}
		buf := *s.msg
		k := min(n, len(buf)-s.msgN)
		if _, err := io.ReadFull(r, buf[s.msgN:s.msgN+k]); err != nil {
			return err
		}
		s.msgN += k
		n -= k
		if s.msgN == len(buf) {
			s.ready = append(s.ready, s.msg)
			s.msg = nil
		}
	}
	return nil
}

// endBlock decodes a whole header block (always, to keep the HPACK table
// in step) and, for the current stream, ends it on trailers.
func (c *h2conn) endBlock(s *h2stream) error {
	block, sid, end := c.block, c.blockSID, c.blockEnd
	c.block = nil
	fields, err := c.hdec.DecodeFull(block)
	if err != nil {
		return err
	}
	if s == nil || sid != s.id {
		return nil
	}
	code, msg, httpStatus := "", "", ""
	for _, f := range fields {
		switch f.Name {
		case "grpc-status":
			code = f.Value
		case "grpc-message":
			msg = f.Value
		case ":status":
			httpStatus = f.Value
		}
	}
	if !s.gotHead && httpStatus != "" && httpStatus != "200" {
		s.end(status.Errorf(codes.Unavailable, "%s answered HTTP %s", c.addr, httpStatus))
	}
	s.gotHead = true
	if !end {
		return nil
	}
	switch code {
	case "0":
		s.end(io.EOF)
	case "":
		s.end(status.Errorf(codes.Internal, "%s ended the stream without a status", c.addr))
	default:
		n, err := strconv.ParseUint(code, 10, 32)
		if err != nil {
			n = uint64(codes.Unknown)
		}
		if m, err := url.PathUnescape(msg); err == nil {
			msg = m // grpc-message is percent-encoded
		}
		s.end(status.Error(codes.Code(n), msg))
	}
	return nil
}

// writeControl writes frames from the reading side (acknowledgements,
// window updates).
func (c *h2conn) writeControl(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(b)
	return err
}
